"""Data: embedded MNIST, the full-MNIST download path against a loopback HTTP server, toys."""
import functools
import gzip
import hashlib
import http.server
import threading
import warnings

import numpy as np
import pytest
import torch

from vegan_lib import data


def test_embedded_mnist_splits():
    train = data.load_mnist("embedded", "train")
    test = data.load_mnist("embedded", "test")
    assert train.images.shape == (4000, 1, 28, 28) and test.images.shape == (1000, 1, 28, 28)
    assert train.images.dtype == torch.float32 and train.labels.dtype == torch.int64
    assert 0.0 <= train.images.min() and train.images.max() <= 1.0 and train.images.max() > 0.99
    assert torch.bincount(train.labels).tolist() == [400] * 10
    assert torch.bincount(test.labels).tolist() == [100] * 10
    assert "embedded" in train.describe() and "4,000" in train.describe()
    assert len(data.load_mnist("embedded", "all")) == 5000


def test_embedded_subset_ships_in_the_package_and_is_checked(tmp_path, monkeypatch):
    from importlib import resources
    path = resources.files("vegan_lib") / "_data" / "mnist_5k.npz"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == data.EMBEDDED_SHA256
    assert (resources.files("vegan_lib") / "_data" / "README.md").read_text().count(data.EMBEDDED_SHA256) == 1
    images, labels = data._embedded_arrays()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8 and np.bincount(labels).tolist() == [500] * 10
    assert np.all(np.diff(labels.astype(int)) >= 0)  # sorted by class, as documented
    # a modified copy is refused, naming the file and the expected digest
    bad = tmp_path / "vegan_lib" / "_data"
    bad.mkdir(parents=True)
    blob = bytearray(path.read_bytes())
    blob[-100] ^= 1
    (bad / "mnist_5k.npz").write_bytes(bytes(blob))
    monkeypatch.setattr(data.resources, "files", lambda pkg: tmp_path / "vegan_lib")
    data._embedded_arrays.cache_clear()
    try:
        with pytest.raises(ValueError, match="corrupt: SHA-256"):
            data.load_mnist("embedded")
        (bad / "mnist_5k.npz").unlink()
        with pytest.raises(FileNotFoundError, match="missing"):
            data.load_mnist("embedded")
    finally:
        data._embedded_arrays.cache_clear()


def test_no_mlxtend_pandas_or_sklearn_needed():
    import subprocess
    import sys
    code = ("import sys; sys.modules.update({m: None for m in ('mlxtend', 'pandas', 'sklearn', 'joblib')}); "
            "import vegan_lib as vl; print(len(vl.data.load_mnist('embedded', 'all')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "5000"


def test_load_mnist_bad_arguments():
    with pytest.raises(ValueError, match="source"):
        data.load_mnist("cifar")
    with pytest.raises(ValueError, match="split"):
        data.load_mnist("embedded", "validation")
    with pytest.raises(ValueError, match="probe_timeout"):
        data.load_mnist("auto", probe_timeout=0)


def _idx_images(n, seed):
    rng = np.random.default_rng(seed)
    pix = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    head = (2051).to_bytes(4, "big") + b"".join(v.to_bytes(4, "big") for v in (n, 28, 28))
    return gzip.compress(head + pix.tobytes()), pix


def _idx_labels(n, seed):
    lab = np.random.default_rng(seed).integers(0, 10, n, dtype=np.uint8)
    return gzip.compress((2049).to_bytes(4, "big") + n.to_bytes(4, "big") + lab.tobytes()), lab


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(tmp_path):
    """Two loopback mirrors: 'good' serves generated MNIST-format files, 'bad' corrupted copies."""
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    blobs = {
        "train-images-idx3-ubyte.gz": _idx_images(12, 0)[0],
        "train-labels-idx1-ubyte.gz": _idx_labels(12, 1)[0],
        "t10k-images-idx3-ubyte.gz": _idx_images(5, 2)[0],
        "t10k-labels-idx1-ubyte.gz": _idx_labels(5, 3)[0],
    }
    for name, blob in blobs.items():
        (good / name).write_bytes(blob)
        (bad / name).write_bytes(blob[:-3] + b"xyz")
    digests = {k: hashlib.sha256(v).hexdigest() for k, v in blobs.items()}
    servers = []
    for root in (good, bad):
        handler = functools.partial(_Quiet, directory=str(root))
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
    urls = [f"http://127.0.0.1:{s.server_address[1]}/" for s in servers]
    yield {"good": urls[0], "bad": urls[1], "files": digests, "blobs": blobs}
    for s in servers:
        s.shutdown()
        s.server_close()


def test_download_verifies_and_caches(tmp_path, mirror, monkeypatch):
    cache = tmp_path / "cache"
    folder = data.download_mnist(cache, mirrors=[mirror["good"]], files=mirror["files"], verbose=False)
    for name, blob in mirror["blobs"].items():
        assert (folder / name).read_bytes() == blob
    # a second call uses the cache: it works even with a dead mirror
    data.download_mnist(cache, mirrors=["http://127.0.0.1:9/"], files=mirror["files"], timeout=2)


def test_download_refetches_corrupt_cache(tmp_path, mirror, capsys):
    cache = tmp_path / "cache"
    data.download_mnist(cache, mirrors=[mirror["good"]], files=mirror["files"], verbose=False)
    target = cache / "mnist" / "t10k-labels-idx1-ubyte.gz"
    target.write_bytes(b"garbage")
    data.download_mnist(cache, mirrors=[mirror["good"]], files=mirror["files"])
    assert "corrupt" in capsys.readouterr().out
    assert target.read_bytes() == mirror["blobs"]["t10k-labels-idx1-ubyte.gz"]


def test_download_rejects_corrupted_mirror_and_falls_over(tmp_path, mirror):
    cache = tmp_path / "cache"
    with pytest.raises(data.DownloadError, match="SHA-256"):
        data.download_mnist(cache, mirrors=[mirror["bad"]], files=mirror["files"], verbose=False)
    assert not list((cache / "mnist").glob("*.gz")), "a corrupt download must not stay in the cache"
    # corrupted first mirror, good second one: the good file wins
    folder = data.download_mnist(cache, mirrors=[mirror["bad"], mirror["good"]], files=mirror["files"],
                                 verbose=False)
    assert (folder / "train-images-idx3-ubyte.gz").read_bytes() == mirror["blobs"]["train-images-idx3-ubyte.gz"]


def test_full_mnist_reads_idx(tmp_path, mirror, monkeypatch):
    monkeypatch.setattr(data, "MNIST_FILES", mirror["files"])
    ds = data.load_mnist("full", "all", cache_dir=tmp_path, mirrors=[mirror["good"]])
    assert ds.images.shape == (17, 1, 28, 28) and ds.labels.shape == (17,)
    expected = _idx_images(12, 0)[1].astype(np.float32) / 255
    np.testing.assert_allclose(ds.images[:12, 0].numpy(), expected)
    assert ds.source == "full" and "full" in ds.describe()


def test_offline_full_raises_and_auto_falls_back(tmp_path, monkeypatch):
    dead = ["http://127.0.0.1:9/"]  # nothing listens on the discard port
    with pytest.raises(data.DownloadError, match="could not download"):
        data.load_mnist("full", cache_dir=tmp_path, mirrors=dead, timeout=2)
    # "auto" on the CPU never downloads
    assert data.load_mnist("auto", cache_dir=tmp_path, mirrors=dead).source == "embedded"
    # "auto" that would download (as on CUDA) falls back with a warning when offline
    monkeypatch.setattr(data, "_auto_source", lambda device: "full")
    with pytest.warns(RuntimeWarning, match="unreachable.*embedded"):
        ds = data.load_mnist("auto", split="test", cache_dir=tmp_path, mirrors=dead, timeout=2)
    assert ds.source == "embedded" and len(ds) == 1000


def test_auto_never_stalls_offline(tmp_path, monkeypatch):
    # An unroutable address (TEST-NET-1, RFC 5737): a connection hangs until its timeout, like an offline
    # GPU box. "auto" on a CUDA-like device gives up after one probe of probe_timeout seconds, without
    # trying the download's 30 s timeouts per file and mirror.
    import time
    monkeypatch.setattr(data, "_auto_source", lambda device: "full")
    start = time.perf_counter()
    with pytest.warns(RuntimeWarning, match="unreachable"):
        ds = data.load_mnist("auto", cache_dir=tmp_path, mirrors=["http://192.0.2.1/mnist/"], timeout=30,
                             probe_timeout=0.5)
    assert ds.source == "embedded" and time.perf_counter() - start < 10


def test_auto_uses_the_cache_without_probing(tmp_path, mirror, monkeypatch):
    monkeypatch.setattr(data, "MNIST_FILES", mirror["files"])
    data.download_mnist(tmp_path, mirrors=[mirror["good"]], files=mirror["files"], verbose=False)
    monkeypatch.setattr(data, "_auto_source", lambda device: "full")
    monkeypatch.setattr(data, "_reachable", lambda *a: pytest.fail("probed the network with the files cached"))
    assert data.load_mnist("auto", "all", cache_dir=tmp_path, mirrors=["http://192.0.2.1/"]).source == "full"


@pytest.mark.parametrize("name", data.TOY_NAMES)
def test_toys(name):
    x = data.toy_2d(name, 500, seed=0)
    assert x.shape == (500, 2) and x.dtype == torch.float32 and torch.isfinite(x).all()
    assert torch.equal(x, data.toy_2d(name, 500, seed=0))
    assert not torch.equal(x, data.toy_2d(name, 500, seed=1))


def test_toy_specific_shapes():
    ring = data.toy_2d("ring", 2000, seed=0, noise=0.0)
    np.testing.assert_allclose(ring.norm(dim=1).numpy(), 2.0, atol=1e-6)
    assert len(torch.unique(ring.round(decimals=4), dim=0)) == 8
    grid = data.toy_2d("grid", 2000, seed=0, noise=0.0)
    assert len(torch.unique(grid, dim=0)) == 25


def test_toy_errors():
    with pytest.raises(ValueError, match="name"):
        data.toy_2d("spiral", 10)
    with pytest.raises(ValueError, match="n must"):
        data.toy_2d("ring", 0)
    with pytest.raises(ValueError, match="noise"):
        data.toy_2d("ring", 10, noise=-1.0)


def test_subset_is_random_seeded_and_on_the_same_device():
    test = data.load_mnist("embedded", "test")
    a, b, c = test.subset(200, seed=1), test.subset(200, seed=1), test.subset(200, seed=2)
    assert len(a) == 200 and torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    assert len(set(a.labels.tolist())) == 10  # the file is sorted by class; a random subset is not
    assert a.images.device == test.images.device and "random 200 (seed 1)" in a.describe()
    idx = [int((test.images == img).flatten(1).all(1).nonzero()[0]) for img in a.images[:20]]
    assert len(set(idx)) == 20  # without replacement
    with pytest.raises(ValueError, match="at most"):
        test.subset(1001, seed=0)
    with pytest.raises(TypeError, match="n must be an int"):
        test.subset(2.0, seed=0)
    with pytest.raises(ValueError, match="seed"):
        test.subset(2, seed=-1)
