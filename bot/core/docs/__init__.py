"""The library's own documentation as it is: readers (markdown, HTML, plain text, Word .docx, PDF; files,
folders, URLs), sections with their heading path, procedures and FAQ pairs, and the incremental index kept in
the store.

``readers`` turns a page into :class:`~bot.core.docs.model.Block` s, ``sections`` turns blocks into
answerable sections (:class:`~bot.core.kb.Topic` with ``origin == "docs"``), ``indexer`` keeps the index
fresh (only what changed is read again) and ``catalog`` loads it cheaply for the answer engine.
"""
