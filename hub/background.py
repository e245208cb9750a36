"""A loop an API component runs beside the requests: started with the app, cancelled and
awaited at shutdown."""

from __future__ import annotations

import asyncio
import contextlib


class BackgroundLoop:
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _run(self) -> None:
        raise NotImplementedError
