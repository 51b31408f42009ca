# Sourced by start.sh and test.sh: create .venv with Python 3.11 and install pinned requirements.
PYTHON_BIN=${PYTHON_BIN:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON_BIN" -m venv .venv
fi
install_requirements() {
  local file=$1 stamp=".venv/.$(basename "$1").sha256" sum
  sum=$(sha256sum "$file" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$file"
    echo "$sum" > "$stamp"
  fi
}
install_requirements requirements.txt
