#!/usr/bin/env bash
# CI step: the base install (no extras) gives the client, the converters and `papertrans --help`, without torch.
# A throwaway venv without system site-packages, `pip install .` with constraints.txt, then the imports the issue
# names, the CLI's help, a server command that names its missing extra, and proof that torch is not importable.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
started=$SECONDS

# Build from a copy of what git would ship (tracked + untracked-but-not-ignored files), so that the build's own
# build/ and *.egg-info never land in the working tree.
mkdir "$work/src"
git ls-files -z --cached --others --exclude-standard \
    | tar --null --ignore-failed-read -T - -cf - 2> /dev/null | tar -xf - -C "$work/src"
"$PY" -m venv "$work/venv"   # no --system-site-packages: only what the base install brings
VPY="$work/venv/bin/python"
if ! "$VPY" -m pip install -q --disable-pip-version-check "$work/src" -c constraints.txt > "$work/pip.log" 2>&1; then
    cat "$work/pip.log" >&2
    exit 1
fi

cd "$work"   # away from the repository: the installed package is what gets imported
"$VPY" -c "import papertrans, papertrans.protect, papertrans.client, papertrans.clients; print('base imports ok')"
"$work/venv/bin/papertrans" --help > /dev/null
"$work/venv/bin/papertrans" translate --help > /dev/null
# the LaTeX converter is part of the base install: a formula comes through byte for byte
printf '%s\n' '\documentclass{article}' '\begin{document}' '\section{Intro}' \
    'Attention weights $\alpha_{t,i}$ sum to one.' '\end{document}' > "$work/paper.tex"
md=$("$work/venv/bin/papertrans" tex2md "$work/paper.tex")
if ! grep -qF '$\alpha_{t,i}$' <<< "$md"; then
    echo "check_base_install: tex2md lost the formula: $md" >&2
    exit 1
fi
if "$VPY" -c "import torch" 2> /dev/null; then
    echo "check_base_install: torch is importable from the base install" >&2
    exit 1
fi
set +e
out=$("$work/venv/bin/papertrans" serve 2>&1)
code=$?
set -e
if [ "$code" -eq 0 ] || ! grep -q "papertrans\[server\]" <<< "$out"; then
    echo "check_base_install: 'papertrans serve' without the server extra should name it; got ($code): $out" >&2
    exit 1
fi
echo "base install ok: imports, papertrans --help, no torch; serve says: $out ($((SECONDS - started)) s)"
