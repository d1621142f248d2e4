"""`pregen --enqueue`: a message per original that needs work, instead of rendering here.

Planning is pregen's own (listings, the diff, `--site`, `--sizes`, `--overwrite`,
`--shard`); each job becomes one S3-event-shaped message (messages.pregen_body) naming the
sizes it lacks, sent ten per SendMessageBatch call by a few concurrent senders. Workers
anywhere then share the run through the queue, with its retries and dead-letter queue.
An entry SQS refuses is a failure of that original in the run's error log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from bulk.events.location import Location
from bulk.events.messages import pregen_body
from bulk.events.sqs import BATCH, Queue, QueueError
from bulk.plan import Job
from bulk.run import Run

SENDERS = 4


async def enqueue(queue: Queue, work: Sequence[Job], location: Location, run: Run) -> None:
    """Send one message per job (until `run.stop`); counts in `run.report.enqueued`."""
    now = datetime.now(UTC)
    run.report.enqueued = 0
    run.progress.start()
    run.working = True

    def batches() -> Iterator[list[tuple[str, str]]]:
        for start in range(0, len(work), BATCH):
            yield [(job.key, _body(job, location, now)) for job in work[start : start + BATCH]]

    pending = batches()

    async def sender() -> None:
        for batch in pending:
            if run.stopping:
                run.report.interrupted = True
                return
            try:
                refused = await queue.send([body for _, body in batch])
            except QueueError as error:
                refused = [(n, str(error)) for n in range(len(batch))]
            for index, reason in refused:
                run.fail(batch[index][0], f"queue: {reason}")
            run.report.enqueued = (run.report.enqueued or 0) + len(batch) - len(refused)
            run.report.originals += len(batch)
            run.progress.advance(len(batch))

    try:
        await asyncio.gather(*(sender() for _ in range(SENDERS)))
    finally:
        run.progress.clear()


def _body(job: Job, location: Location, now: datetime) -> str:
    """All of the site's sizes go unnamed (the worker makes every one); a subset is named."""
    every = job.sizes == job.layout.sizes
    sizes = None if every else [size.name for size in job.sizes]
    bucket, key = location.bucket_key(job.key)
    return pregen_body(bucket, key, sizes, now)
