"""The `mediaproxy` console script: argument parsing and wiring only, one module per subcommand."""
