"""Archives: the events of a bus kept, compressed, for reading back by event time.

An archive is declared in a rule file (``archives:``). The router captures each matching event
in the same Lua step that acknowledges its bus batch (:mod:`.capture`), into a raw segment in
the bus partition's own slot; :class:`.compactor.ArchiveCompactor` compresses segments into
blocks indexed by event time and enforces retention; :func:`.store.read_window` reads them back.
The layout is in ``docs/archives.md``.
"""

from eventbus.archives.spec import Archive, ArchiveSpec

__all__ = ["Archive", "ArchiveSpec"]
