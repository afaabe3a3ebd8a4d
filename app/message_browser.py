"""``MessageBrowser``: the mailbox's preview, which loads remote images as a mail client does.

A tracking pixel only records an open when something requests it, and Qt
alone requests only the images it paints; so this browser fetches every web
image of a message as soon as it is shown (``load_images``), in the
background on the asyncio loop, and lays the message out again as each
arrives. Kept apart from the mailbox list because it is the one part that
talks HTTP to the tracking server.
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from typing import Any, Optional

import aiohttp
from PySide6.QtCore import QByteArray, QUrl
from PySide6.QtGui import QImage, QTextDocument
from PySide6.QtWidgets import QTextBrowser, QWidget

#: Seconds a preview waits for an image or a tracked link before giving up.
FETCH_TIMEOUT = 3.0


def is_web(url: QUrl) -> bool:
    return url.scheme().lower() in ("http", "https")


class MessageBrowser(QTextBrowser):
    """A QTextBrowser that loads remote images the way a mail client does.

    ``loadResource`` is called while the document is laid out; a web image
    is fetched in the background on the running asyncio loop (qasync) and
    the document is laid out again once it arrives, so a slow tracking
    server never freezes the window. Without a running loop it falls back to
    a short blocking GET.
    """

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self._images: dict[str, QImage] = {}
        self._pending: dict[str, asyncio.Future] = {}
        #: Every web address this preview requested, in order (what a tracking server saw).
        self.fetched: list[str] = []

    def clear_cache(self) -> None:
        self._images.clear()

    def loadResource(self, kind: int, url: QUrl) -> Any:  # noqa: N802 - Qt's name
        if kind == QTextDocument.ResourceType.ImageResource and is_web(url):
            key = url.toString()
            if key in self._images:
                return self._images[key]
            if key not in self._pending:
                self._start_fetch(key)
            return self._images.get(key, QImage())
        return super().loadResource(kind, url)

    def _start_fetch(self, key: str) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:
            self._images[key] = self._image_from(self._fetch_blocking(key))
            return
        self._pending[key] = loop.create_task(self._fetch(key))

    async def _fetch(self, key: str) -> None:
        data = b""
        self.fetched.append(key)
        try:
            timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT)
            async with aiohttp.ClientSession(timeout=timeout) as session, session.get(key) as response:
                if response.status < 400:
                    data = await response.read()
        except (aiohttp.ClientError, TimeoutError, ValueError):
            data = b""
        finally:
            self._pending.pop(key, None)
        self._images[key] = self._image_from(data)
        self.document().addResource(QTextDocument.ResourceType.ImageResource, QUrl(key), self._images[key])
        # Lay the document out again so the image takes its place.
        self.document().markContentsDirty(0, self.document().characterCount())

    def _fetch_blocking(self, key: str) -> bytes:
        self.fetched.append(key)
        try:
            with urllib.request.urlopen(key, timeout=FETCH_TIMEOUT) as response:  # noqa: S310 - http(s) only
                return response.read()
        except (urllib.error.URLError, OSError, ValueError):
            return b""

    @staticmethod
    def _image_from(data: bytes) -> QImage:
        image = QImage()
        if data:
            image.loadFromData(QByteArray(data))
        return image

    def load_images(self) -> None:
        """Request every web image of the document now, as a mail client does."""
        block = self.document().begin()
        while block.isValid():
            it = block.begin()
            while not it.atEnd():
                fmt = it.fragment().charFormat()
                if fmt.isImageFormat():
                    self.loadResource(QTextDocument.ResourceType.ImageResource, QUrl(fmt.toImageFormat().name()))
                it += 1
            block = block.next()

    async def images_loaded(self) -> None:
        """Wait until every image the shown message asked for has arrived (or failed)."""
        while self._pending:
            await asyncio.gather(*list(self._pending.values()), return_exceptions=True)
