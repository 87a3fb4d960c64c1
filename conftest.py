"""Settings for every pytest run of the repository (unit tests and nbval alike)."""
import os

# Every plt.show() in a chapter run under nbval checks its figure first: no text below plotting.MIN_FONTSIZE and no
# two texts drawn over each other (transformer_book.plotting.figure_problems). The kernels inherit this variable.
os.environ.setdefault("TRANSFORMER_BOOK_CHECK_FIGURES", "1")
