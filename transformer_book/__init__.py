"""transformer_book: the code of the bilingual annotated book on "Attention Is All You Need".

Modules whose first line says GENERATED are exported from the book's notebooks by
`tools/export.py`; the others are hand-written plumbing (data files, plotting).
"""
__version__ = "0.1.0"
