"""Grad mode, anomaly detection and scopes: blocks that threads leave in any order.

The switches are process-wide (PyTorch's grad mode is per thread; the module says
so). What must hold is that blocks entered and left in another order than last in,
first out -- two threads, each in its own ``no_grad()`` -- leave the switches as they
found them once all have exited: each switch is the innermost *active* block's.
"""

import threading

from tapegrad import engine
from tapegrad.engine import Value


def interleave(first, second) -> None:
    """Thread A enters ``first()``, B enters ``second()``, A leaves, then B leaves."""
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def a():
        with first():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def b():
        a_in.wait(5)
        with second():
            b_in.set()
            a_out.wait(5)

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_no_grad_blocks_left_out_of_order_leave_recording_on():
    interleave(engine.no_grad, engine.no_grad)  # B's block saw recording off on entry
    assert engine.is_grad_enabled()
    x = Value(2.0)
    (x * x).backward()
    assert x.grad == 4.0  # recorded: before, recording stayed off for good


def test_enable_grad_inside_no_grad_and_out_of_order():
    interleave(engine.no_grad, engine.enable_grad)
    assert engine.is_grad_enabled()
    with engine.no_grad():
        with engine.enable_grad():
            assert engine.is_grad_enabled()
        assert not engine.is_grad_enabled()
    assert engine.is_grad_enabled()


def test_anomaly_blocks_left_out_of_order_leave_detection_off():
    interleave(engine.detect_anomaly, engine.detect_anomaly)
    assert not engine.is_anomaly_enabled()
    assert Value(0.0).log().data == float("-inf")  # no AnomalyError
    engine.set_detect_anomaly(True)
    try:
        with engine.detect_anomaly():
            pass
        assert engine.is_anomaly_enabled()  # set_detect_anomaly's setting is back
    finally:
        engine.set_detect_anomaly(False)
    assert not engine.is_anomaly_enabled()


def test_scopes_left_out_of_order_leave_no_scope_behind():
    interleave(lambda: engine.scope("a"), lambda: engine.scope("b"))
    assert engine.current_scope() is None
    assert Value(1.0).scope is None  # before, every later Value was tagged 'a'
    with engine.scope("outer") as outer, engine.scope("inner") as inner:
        assert inner.path == "outer.inner" and (Value(1.0) * 2.0).scope is inner
    assert engine.current_scope() is None and outer.depth == 0


def test_an_exception_inside_a_block_restores_the_switch():
    try:
        with engine.no_grad():
            raise KeyError("x")
    except KeyError:
        pass
    assert engine.is_grad_enabled()
