import tensorflow as tf

from components.transform.text import pad_token_ids, tokenize


def test_tokenize_lowercases_and_splits_on_non_word_characters():
    out = tokenize(tf.constant(["Hello, World! 42x", "", "Café—crème"]))
    assert out.to_list() == [[b"hello", b"world", b"42x"], [], ["café".encode(), "crème".encode()]]


def test_pad_token_ids_shifts_by_one_and_pads_or_cuts():
    ids = tf.ragged.constant([[0, 5, 2], [], [1]], dtype=tf.int64)
    assert pad_token_ids(ids, length=2).numpy().tolist() == [[1, 6], [0, 0], [2, 0]]
