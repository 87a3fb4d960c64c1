#!/usr/bin/env bash
# Put MathJax 3 (npm: mathjax@3.2.2) into book/_static/mathjax/, so the website needs no CDN.
# Only what the CHTML output with TeX input needs is kept (about 5 MB). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=book/_static/mathjax
[ -f "$dest/tex-chtml.js" ] && [ -f "$dest/.version-3.2.2" ] && exit 0
command -v npm >/dev/null || { echo "npm is needed to fetch MathJax (mathjax@3.2.2); install Node.js (e.g. apt-get install npm)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent mathjax@3.2.2 >/dev/null && tar xzf mathjax-3.2.2.tgz)
src="$work/package/es5"
stage="$work/mathjax"
mkdir -p "$stage/output"
cp "$src"/tex-chtml.js "$src"/core.js "$src"/loader.js "$src"/startup.js "$stage"/
cp -r "$src"/input "$src"/ui "$src"/a11y "$src"/adaptors "$stage"/
cp -r "$src"/output/chtml "$src"/output/chtml.js "$stage"/output/
cp "$work/package/LICENSE" "$stage"/LICENSE
touch "$stage/.version-3.2.2"
rm -rf "$dest"
mv "$stage" "$dest"
echo "MathJax 3.2.2 -> $dest ($(du -sh "$dest" | cut -f1))"
