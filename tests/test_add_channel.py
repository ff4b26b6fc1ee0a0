"""Adding the CLIP visual channel to a library built without it, from its stored keyframes, with
a tiny open_clip model (no real CLIP weights exist offline): the blocks are the thumbnails'
embeddings, the library records the CLIP so that searching and indexing later use it, and a
backfill killed half-way opens as it was and goes on from its last commit."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.conftest import VIDEOS
from tests.test_clip import _TINY_CFG, TINY, tiny_arch  # noqa: F401  (registers the tiny architecture)
from vidsearch.app.cli import app
from vidsearch.channels.fusion import ChannelLayout
from vidsearch.media.frames import decode_jpeg
from vidsearch.models.clip import load_clip
from vidsearch.store.library import Library

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def plain_library(tmp_path_factory, tiny_arch):  # noqa: F811
    """Two silent fixture videos indexed without CLIP, and a tiny CLIP checkpoint."""
    base = tmp_path_factory.mktemp("backfill")
    torch.manual_seed(3)
    checkpoint = base / "tiny.pt"
    torch.save(load_clip(tiny_arch, allow_random=True).model.state_dict(), checkpoint)
    videos = base / "videos"
    videos.mkdir()
    for name in ("summer_sale.mp4", "cockatoo_silent.mp4"):
        shutil.copy(VIDEOS / name, videos / name)
    db = base / "db"
    result = cli("index", "--db", db, "--clip", "none", videos)
    assert result.exit_code == 0, result.output
    with Library.open(db, readonly=True) as lib:
        assert "visual" not in lib.layout
    return db, checkpoint, videos


def test_add_channel_encodes_the_stored_keyframes_and_records_the_clip(plain_library, tiny_arch, tmp_path):  # noqa: F811
    src, checkpoint, videos = plain_library
    db = tmp_path / "db"
    shutil.copytree(src, db)
    with Library.open(db, readonly=True) as lib:
        before = {s.id: s for v in lib.videos() for s in lib.video_segments(v.id)}
        old_layout = dict(lib.layout)
        live = [i for i, s in before.items() if not s.removed]
        old_vectors = lib.vectors(live)
    result = cli("add-channel", "visual", "--db", db, "--clip", tiny_arch, "--clip-checkpoint", checkpoint, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["encoded"] == len(before) and report["resumed"] == 0 and report["width"] == 32
    encoder = load_clip(tiny_arch, checkpoint)
    with Library.open(db, readonly=True) as lib:
        assert lib.layout == ChannelLayout.from_dict({**old_layout, "visual": 32}).as_dict()
        assert lib.setting("clip_model") == encoder.name
        slices = ChannelLayout.from_dict(lib.layout).slices()
        got = lib.vectors(live)
        want = encoder.encode_images([decode_jpeg(before[i].thumbnail.read_bytes()) for i in live])
        np.testing.assert_allclose(got[:, slices["visual"]], want, atol=2e-3)  # float16 copies
        for name, sl in ChannelLayout.from_dict(old_layout).slices().items():  # the others as they were
            np.testing.assert_array_equal(got[:, slices[name]], old_vectors[:, sl])
    # Searching with the visual channel: the library's own CLIP encodes the query.
    # (tags keep hits coming whatever the sign of a random model's cosines)
    result = cli("search", "--db", db, "--json", "--weights", "visual=1,speech=0,ocr=0,tags=1",
                 "--min-confidence", "any", "a parrot")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["results"]
    assert hits and all("visual" in h["channels"] for h in hits) and "visual channel" not in result.stderr
    # Indexing a new video goes on with the recorded CLIP (the profile agrees with the layout).
    extra = tmp_path / "more"
    extra.mkdir()
    shutil.copy(VIDEOS / "go_forward.mp4", extra / "go_forward.mp4")
    result = cli("index", "--db", db, extra)
    assert result.exit_code == 0, result.output
    result = cli("add-channel", "visual", "--db", db, "--clip", tiny_arch, "--clip-checkpoint", checkpoint)
    assert result.exit_code == 1 and "has the visual channel already" in result.stderr


CHILD = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    import open_clip
    folder = Path(sys.argv[4])
    open_clip.add_model_config(folder)
    from vidsearch.ingest.backfill import add_visual_channel
    from vidsearch.models.clip import load_clip
    from vidsearch.store.library import Library
    encoder = load_clip(sys.argv[5], sys.argv[3], batch_size=1)
    lib = Library.open(Path(sys.argv[2]))
    commits = lib.commit
    def commit():
        commits()
        print("committed", len(lib.staged("visual")), flush=True)
        time.sleep(2)  # time for the parent to kill it here, however busy the machine
    lib.commit = commit
    add_visual_channel(lib, encoder, clip_spec=sys.argv[5], clip_checkpoint=sys.argv[3], commit_every=2)
    print("finished", flush=True)
""")


def test_a_backfill_killed_half_way_opens_as_it_was_and_goes_on(plain_library, tiny_arch, tmp_path):  # noqa: F811
    src, checkpoint, _ = plain_library
    db = tmp_path / "db"
    shutil.copytree(src, db)
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / f"{TINY}.json").write_text(json.dumps(_TINY_CFG))
    with Library.open(db, readonly=True) as lib:
        total = sum(len(lib.video_segments(v.id)) for v in lib.videos())
        layout = dict(lib.layout)
    assert total >= 6
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(REPO), str(db), str(checkpoint), str(cfg), tiny_arch],
                            stdout=subprocess.PIPE, text=True, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    staged = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("committed") and int(line.split()[1]) >= 4:
            staged = int(line.split()[1])
            os.kill(proc.pid, signal.SIGKILL)  # in the middle of encoding, a commit or two done
            break
    proc.wait()
    assert 4 <= staged < total, "the child must be killed before it finished"
    with Library.open(db) as lib:  # opens as it was: same layout, check clean, the blocks kept
        assert lib.layout == layout and lib.check() == []
        kept = len(lib.staged("visual"))
        assert staged <= kept < total
    result = cli("add-channel", "visual", "--db", db, "--clip", tiny_arch, "--clip-checkpoint", checkpoint, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["resumed"] == kept and report["encoded"] + report["resumed"] == total
    with Library.open(db) as lib:
        assert lib.layout["visual"] == 32 and lib.check() == [] and lib.staged("visual") == set()


def test_prepare_models_imports_clip_weights_for_a_pretrained_tag(tiny_arch, tmp_path, monkeypatch):  # noqa: F811
    """`prepare-models --clip MODEL:PRETRAINED --from FILE` puts the file where that tag's weights
    are looked for, proves it loads, and refuses (leaving nothing) a file of another model."""
    import open_clip

    from tests.test_clip import TINY_WIDE

    monkeypatch.setenv("VIDSEARCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, TINY, {"vstest": {"hf_hub": "vidsearch/tiny-test/"}})
    torch.manual_seed(5)
    good = tmp_path / "open_clip_pytorch_model.bin"
    torch.save(load_clip(TINY, allow_random=True).model.state_dict(), good)
    wrong = tmp_path / "other.bin"
    torch.save(load_clip(TINY_WIDE, allow_random=True).model.state_dict(), wrong)
    spec = f"{TINY}:vstest"
    with pytest.raises(Exception, match="not in the cache"):
        load_clip(spec)  # offline, nothing cached yet
    result = cli("prepare-models", "--clip", spec, "--from", wrong)
    assert result.exit_code == 1 and "is not usable as CLIP" in result.stderr
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and "open_clip" in p.parts]
    result = cli("prepare-models", "--clip", spec, "--from", good)
    assert result.exit_code == 0, result.output
    assert "CLIP ready" in result.stderr and "MiB" in result.stderr
    encoder = load_clip(spec)  # offline: found in the cache
    assert encoder.name == f"open_clip:{spec}" and encoder.dim == 32
    result = cli("prepare-models", "--from", good)
    assert result.exit_code == 2 and "--from needs --clip" in result.stderr
