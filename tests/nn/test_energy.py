"""Hopfield networks and Boltzmann machines: every learning rule checked against the
gradient the engine computes, and the energy convention's factors pinned down."""

import itertools
import math
import random
import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tapegrad.engine import Value
from tapegrad.nn.energy import MAX_EXACT_UNITS, BoltzmannMachine, Hopfield, Moments, RecallStep
from tapegrad.nn.module import MODEL_REGISTRY

spin = st.sampled_from([-1, 1])
weight = st.floats(-2.0, 2.0, allow_nan=False)


@st.composite
def sized_states(draw, min_n=2, max_n=8, min_count=1, max_count=4):
    """(n, list of ±1 states of length n)."""
    n = draw(st.integers(min_n, max_n))
    states = draw(
        st.lists(st.lists(spin, min_size=n, max_size=n), min_size=min_count, max_size=max_count)
    )
    return n, states


def set_random_weights(model, draw_weights):
    for p, x in zip(model.parameters(), draw_weights):
        p.data = x


def full_matrix(model):
    """The weights as n×n floats, read entry by entry from the Values (independently
    of the model's own helpers)."""
    n = model.n
    return [[0.0 if i == j else model.w[i][j].data for j in range(n)] for i in range(n)]


# -- structure --------------------------------------------------------------------


def test_weights_are_tied_symmetric_with_a_zero_diagonal():
    net = Hopfield(4)
    for i, j in itertools.product(range(4), repeat=2):
        if i == j:
            assert net.w[i][j] == 0.0 and not isinstance(net.w[i][j], Value)
        else:
            assert net.w[i][j] is net.w[j][i]
    names = [name for name, _ in net.named_parameters()]
    assert names == ["w.0.1", "w.0.2", "w.0.3", "w.1.2", "w.1.3", "w.2.3"]
    assert net.pairs() == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]


def test_boltzmann_parameters_and_config():
    bm = BoltzmannMachine(3)
    assert [n for n, _ in bm.named_parameters()] == ["w.0.1", "w.0.2", "w.1.2", "b.0", "b.1", "b.2"]
    assert BoltzmannMachine(3, bias=False).num_parameters() == 3
    assert bm.config() == {"n": 3, "bias": True}
    assert Hopfield(5).config() == {"n": 5}
    assert MODEL_REGISTRY["Hopfield"] is Hopfield
    assert MODEL_REGISTRY["BoltzmannMachine"] is BoltzmannMachine
    rebuilt = MODEL_REGISTRY["BoltzmannMachine"](**bm.config())
    assert [n for n, _ in rebuilt.named_parameters()] == [n for n, _ in bm.named_parameters()]


@given(st.integers(1, 7), st.data())
def test_energy_is_half_the_slide_sum(n, data):
    """E(y) = -½ Σ_{i≠j} y_i w_ij y_j, checked against the double sum over a full matrix."""
    net = Hopfield(n)
    set_random_weights(net, data.draw(st.lists(weight, min_size=n * n, max_size=n * n)))
    y = data.draw(st.lists(spin, min_size=n, max_size=n))
    w = full_matrix(net)
    slide = -sum(y[i] * w[i][j] * y[j] for i in range(n) for j in range(n))
    assert net.energy(y).data == pytest.approx(slide / 2, abs=1e-12)


def test_energy_ops_are_scoped_by_the_model():
    net = Hopfield(3)
    e = net.energy([1, -1, 1])
    assert e.scope is not None and e.scope.path == "Hopfield.E(y)"


# -- Hebb's rule is a gradient step on the energy ------------------------------------


@given(st.integers(2, 7), st.floats(-1.0, 1.0, allow_nan=False), st.data())
def test_hebb_step_is_exactly_a_gradient_descent_step_on_the_energy(n, lr, data):
    net = Hopfield(n)
    set_random_weights(net, data.draw(st.lists(weight, min_size=n * n, max_size=n * n)))
    y = data.draw(st.lists(spin, min_size=n, max_size=n))

    net.zero_grad()
    net.energy(y).backward()
    for (i, j), w in zip(net.pairs(), net.parameters()):
        assert w.grad == -y[i] * y[j]  # ∂E/∂w_ij = -y_i y_j, exactly (tied parameter)
    descended = [w.data - lr * w.grad for w in net.parameters()]

    net.store([y], lr=lr)
    for w, expected in zip(net.parameters(), descended):
        assert abs(w.data - expected) <= 1e-12


def _slide_energy(y, entry):
    """The slide's E = -Σ_ij y_i w_ij y_j, with ``entry(i, j)`` giving w_ij (None on
    the diagonal)."""
    total = Value(0.0)
    n = len(y)
    for i, j in itertools.product(range(n), repeat=2):
        if i != j:
            total = total + entry(i, j) * (y[i] * y[j])
    return -total


@given(st.integers(2, 6), st.data())
def test_energy_convention_factor_table(n, data):
    """The four rows of the table in nn.energy's docstring, by engine backprop."""
    net = Hopfield(n)
    set_random_weights(net, data.draw(st.lists(weight, min_size=n * n, max_size=n * n)))
    y = data.draw(st.lists(spin, min_size=n, max_size=n))
    pairs = net.pairs()

    # The slide's energy with tied parameters: the gradient doubles.
    net.zero_grad()
    e_slide = _slide_energy(y, lambda i, j: net.w[i][j])
    assert e_slide.data == pytest.approx(2 * net.energy(y).data, abs=1e-12)
    e_slide.backward()
    assert [w.grad for w in net.parameters()] == [-2 * y[i] * y[j] for i, j in pairs]

    # The slide's energy with w_ij and w_ji as separate numbers: factor 1.
    free = {(i, j): Value(net.w[i][j].data) for i, j in itertools.permutations(range(n), 2)}
    _slide_energy(y, lambda i, j: free[i, j]).backward()
    assert all(free[i, j].grad == -y[i] * y[j] for i, j in free)

    # Half the slide's energy with separate w_ij, w_ji: factor ½.
    free = {(i, j): Value(net.w[i][j].data) for i, j in itertools.permutations(range(n), 2)}
    (_slide_energy(y, lambda i, j: free[i, j]) * 0.5).backward()
    assert all(free[i, j].grad == -0.5 * y[i] * y[j] for i, j in free)


def test_energy_gradient_with_respect_to_a_unit_is_minus_its_field():
    net = Hopfield(3)
    set_random_weights(net, [0.5, -1.25, 2.0])
    y = [Value(1.0), Value(-1.0), Value(1.0)]
    net.energy(y).backward()
    for i in range(3):
        assert y[i].grad == pytest.approx(-net.local_field([1, -1, 1], i), abs=1e-15)


# -- asynchronous recall --------------------------------------------------------------


@given(
    sized_states(min_n=2, max_n=10, min_count=1, max_count=4),
    st.data(),
    st.integers(0, 2**32 - 1),
)
def test_energy_never_increases_during_recall(sized, data, seed):
    n, patterns = sized
    net = Hopfield(n)
    net.store(patterns, lr=1.0)  # integer weights: energies are exact, no rounding
    start = data.draw(st.lists(spin, min_size=n, max_size=n))
    previous = net.energy(start).data
    final = start
    for step in net.recall_steps(start, rng=seed, max_sweeps=1000):
        energy = net.energy(list(step.state)).data
        assert step.energy == energy
        if step.after != step.before:
            assert energy < previous  # ΔE = -2|h_i| < 0 for a flip
            assert energy == previous - 2 * abs(step.field)
        else:
            assert energy == previous
        previous = energy
        final = list(step.state)
    assert net.is_fixed_point(final)


@given(st.integers(2, 8), st.data(), st.integers(0, 2**32 - 1))
def test_energy_never_increases_for_any_symmetric_weights(n, data, seed):
    net = Hopfield(n)
    set_random_weights(net, data.draw(st.lists(weight, min_size=n * n, max_size=n * n)))
    state = data.draw(st.lists(spin, min_size=n, max_size=n))
    previous = net.energy(state).data
    for step in net.recall_steps(state, rng=seed):
        assert step.energy <= previous + 1e-12
        previous = step.energy


HADAMARD_8 = [
    [1, 1, 1, 1, 1, 1, 1, 1],
    [1, -1, 1, -1, 1, -1, 1, -1],
    [1, 1, -1, -1, 1, 1, -1, -1],
    [1, -1, -1, 1, 1, -1, -1, 1],
]


def test_orthogonal_patterns_are_fixed_points():
    net = Hopfield(8)
    patterns = HADAMARD_8[1:]  # three mutually orthogonal patterns
    net.store(patterns)
    for p in patterns:
        assert net.is_fixed_point(p)
        assert net.is_fixed_point([-x for x in p])  # the mirror image is stored too
        assert net.recall(p) == p


def test_two_orthogonal_patterns_are_recalled_after_any_one_flip_in_any_order():
    """With p1·p2 = 0 and x = p1 with bit k flipped, h = (W x) has the sign of p1 at
    every unit (h_i = (4 p1_i ± 2 p2_i)/8 for i ≠ k, (8 p1_k ± 2 p2_k)/8 at k)."""
    net = Hopfield(8)
    patterns = HADAMARD_8[1:3]
    net.store(patterns)
    for p in patterns:
        for k in range(8):
            noisy = list(p)
            noisy[k] = -noisy[k]
            assert not net.is_fixed_point(noisy)
            assert net.recall(noisy) == p
            for seed in range(5):
                assert net.recall(noisy, rng=seed) == p


@given(
    st.integers(2, 10).flatmap(
        lambda n: st.tuples(
            st.lists(spin, min_size=n, max_size=n),
            st.sets(st.integers(0, n - 1), max_size=(n - 1) // 2),
        )
    ),
    st.integers(0, 100),
)
def test_one_stored_pattern_is_recalled_from_fewer_than_half_flipped(pattern_flips, seed):
    pattern, flips = pattern_flips
    net = Hopfield(len(pattern))
    net.store([pattern])
    noisy = [-x if k in flips else x for k, x in enumerate(pattern)]
    assert net.recall(noisy, rng=seed) == pattern


def test_a_zero_field_keeps_the_unit():
    net = Hopfield(3)  # zero weights: every field is 0
    steps = list(net.recall_steps([1, -1, 1]))
    assert [s.field for s in steps] == [0.0, 0.0, 0.0]
    assert [(s.before, s.after) for s in steps] == [(1, 1), (-1, -1), (1, 1)]
    assert len(steps) == 3  # the first sweep changed nothing: a fixed point
    assert net.recall([1, -1, 1]) == [1, -1, 1]


def test_recall_steps_visit_units_in_order_or_shuffled_by_seed():
    net = Hopfield(5)
    net.store([[1, -1, 1, -1, 1]])
    assert [s.unit for s in net.recall_steps([1, 1, 1, 1, 1], max_sweeps=1)] == [0, 1, 2, 3, 4]
    first = [s.unit for s in net.recall_steps([1, 1, 1, 1, 1], max_sweeps=1, rng=3)]
    again = [s.unit for s in net.recall_steps([1, 1, 1, 1, 1], max_sweeps=1, rng=3)]
    assert first == again and sorted(first) == [0, 1, 2, 3, 4]
    assert isinstance(next(net.recall_steps([1, 1, 1, 1, 1])), RecallStep)


def test_recall_accepts_float_spins_and_returns_ints():
    net = Hopfield(2)
    assert net.recall([1.0, -1.0]) == [1, -1]


def test_hopfield_bad_arguments_change_nothing():
    with pytest.raises(ValueError, match="at least 1"):
        Hopfield(0)
    for bad in (2.0, True, "3"):
        with pytest.raises(TypeError, match="n must be an int"):
            Hopfield(bad)
    net = Hopfield(3)
    with pytest.raises(ValueError, match=r"patterns\[1\] must have 3 units"):
        net.store([[1, 1, 1], [1, 1]])
    with pytest.raises(ValueError, match=r"patterns\[0\]\[2\] must be -1 or \+1, got 0"):
        net.store([[1, 1, 0]])
    with pytest.raises(TypeError, match=r"patterns\[0\]\[0\] must be -1 or \+1, got bool"):
        net.store([[True, 1, 1]])
    with pytest.raises(ValueError, match="patterns is empty"):
        net.store([])
    with pytest.raises(ValueError, match="lr must be finite"):
        net.store([[1, 1, 1]], lr=math.nan)
    with pytest.raises(TypeError, match="lr must be a real number"):
        net.store([[1, 1, 1]], lr="0.1")
    assert net.weight_matrix() == [[0.0] * 3] * 3
    with pytest.raises(ValueError, match="max_sweeps must be at least 1"):
        net.recall([1, 1, 1], max_sweeps=0)
    with pytest.raises(TypeError, match="rng must be None"):
        net.recall([1, 1, 1], rng="seed")
    with pytest.raises(ValueError, match="state must have 3 units"):
        net.recall_steps([1, 1])  # checked at the call, before any iteration
    with pytest.raises(TypeError, match="state must be a list"):
        net.recall("111")
    with pytest.raises(ValueError, match="unit index"):
        net.local_field([1, 1, 1], 3)
    with pytest.raises(ValueError, match="state must have 3 units"):
        net.energy([1.0, 2.0])
    with pytest.raises(TypeError, match=r"state\[1\] must be a number or a Value"):
        net.energy([1.0, None, 1.0])


# -- Boltzmann machine ----------------------------------------------------------------


@st.composite
def boltzmann(draw, max_n=5):
    n = draw(st.integers(1, max_n))
    bm = BoltzmannMachine(n, bias=draw(st.booleans()))
    k = bm.num_parameters()
    set_random_weights(bm, draw(st.lists(st.floats(-1.5, 1.5), min_size=k, max_size=k)))
    data = draw(st.lists(st.lists(spin, min_size=n, max_size=n), min_size=1, max_size=6))
    return bm, data


def brute_force_probabilities(bm):
    """exp(-E(s)) / Z straight from the definition, with E read off the Values."""
    n = bm.n
    w = full_matrix(bm)
    b = [x.data for x in bm.b] or [0.0] * n
    states = list(itertools.product((-1, 1), repeat=n))
    energies = [
        -0.5 * sum(s[i] * w[i][j] * s[j] for i in range(n) for j in range(n))
        - sum(b[i] * s[i] for i in range(n))
        for s in states
    ]
    z = sum(math.exp(-e) for e in energies)
    return states, [math.exp(-e) / z for e in energies]


@given(boltzmann())
def test_probabilities_are_the_normalised_boltzmann_distribution(model_data):
    bm, _ = model_data
    states, expected = brute_force_probabilities(bm)
    assert bm.states() == states
    got = bm.probabilities()
    assert math.fsum(got) == pytest.approx(1.0, abs=1e-12)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)
    log_probs = [bm.log_prob(s).data for s in states[:4]]
    assert log_probs == pytest.approx([math.log(p) for p in expected[:4]], abs=1e-12)


@given(boltzmann(), st.floats(0.01, 1.0))
def test_boltzmann_rule_is_gradient_ascent_on_the_log_likelihood(model_data, lr):
    """The engine's gradient of (1/P) Σ log p(y) is ⟨y_i y_j⟩_data - ⟨y_i y_j⟩_model for
    each weight and ⟨y_i⟩_data - ⟨y_i⟩_model for each bias: factor 1 in our convention."""
    bm, data = model_data
    d, m = bm.data_moments(data), bm.model_moments()
    bm.zero_grad()
    bm.log_likelihood(data).backward()
    for (i, j), w in zip(bm.pairs(), bm.parameters()):
        assert abs(w.grad - (d.correlations[i][j] - m.correlations[i][j])) <= 1e-9
    for i, b in enumerate(bm.b):
        assert abs(b.grad - (d.means[i] - m.means[i])) <= 1e-9

    ascended = [p.data + lr * p.grad for p in bm.parameters()]
    bm.train_step(data, lr)
    assert [p.data for p in bm.parameters()] == pytest.approx(ascended, abs=1e-9)


def test_with_the_slide_energy_the_weight_gradient_doubles_but_the_bias_one_does_not():
    """p ∝ exp(-E_slide), E_slide = -Σ_ij y_i w_ij y_j - Σ b_i y_i, tied weights."""
    bm = BoltzmannMachine(3)
    set_random_weights(bm, [0.3, -0.7, 0.2, 0.1, -0.4, 0.25])
    data = [[1, 1, -1], [1, -1, -1], [-1, 1, 1]]

    def slide_neg_energy(y):
        e = _slide_energy(y, lambda i, j: bm.w[i][j])
        for i, b in enumerate(bm.b):
            e = e - b * y[i]
        return -e

    neg = [slide_neg_energy(s) for s in bm.states()]
    shift = max(a.data for a in neg)
    log_z = sum(((a - shift).exp() for a in neg), Value(0.0)).log() + shift
    log_likelihood = sum((slide_neg_energy(y) for y in data), Value(0.0)) * (1 / 3) - log_z
    log_likelihood.backward()

    # The exact moments under the slide's distribution (= ours with weights doubled).
    doubled = BoltzmannMachine(3)
    set_random_weights(doubled, [0.6, -1.4, 0.4, 0.1, -0.4, 0.25])
    d, m = doubled.data_moments(data), doubled.model_moments()
    for (i, j), w in zip(bm.pairs(), bm.parameters()):
        assert w.grad == pytest.approx(2 * (d.correlations[i][j] - m.correlations[i][j]), abs=1e-12)
    for i, b in enumerate(bm.b):
        assert b.grad == pytest.approx(d.means[i] - m.means[i], abs=1e-12)


@given(boltzmann(max_n=4))
def test_training_increases_the_log_likelihood(model_data):
    """The log-likelihood is concave with curvature at most d (the number of ±1
    statistics: its Hessian is -Cov(statistics), whose largest eigenvalue is at most
    the trace, at most d), so an ascent step with lr = 1/d gains at least
    (lr/2)·|gradient|²: it increases whenever the gradient is not zero."""
    bm, data = model_data
    assume(bm.num_parameters() > 0)
    lr = 1.0 / bm.num_parameters()
    before = bm.log_likelihood(data).data
    for _ in range(5):
        d, m = bm.data_moments(data), bm.model_moments()
        gradient = [d.correlations[i][j] - m.correlations[i][j] for i, j in bm.pairs()]
        gradient += [d.means[i] - m.means[i] for i in range(len(bm.b))]
        bm.train_step(data, lr)
        after = bm.log_likelihood(data).data
        assert after - before >= 0.5 * lr * sum(g * g for g in gradient) - 1e-12
        before = after


def test_training_matches_the_data_moments():
    bm = BoltzmannMachine(4)
    data = [
        [1, 1, -1, -1],
        [1, 1, 1, -1],
        [-1, -1, 1, 1],
        [1, 1, -1, -1],
        [-1, 1, 1, 1],
        [1, -1, -1, 1],
    ]
    start = bm.log_likelihood(data).data
    for _ in range(300):
        bm.train_step(data, 0.5)
    assert bm.log_likelihood(data).data > start + 1.0
    # At the maximum of the likelihood the model's moments equal the data's.
    d, m = bm.data_moments(data), bm.model_moments()
    assert m.means == pytest.approx(d.means, abs=1e-2)
    for row_m, row_d in zip(m.correlations, d.correlations):
        assert row_m == pytest.approx(row_d, abs=1e-2)


def test_sampled_negative_phase_equal_to_the_data_changes_nothing():
    bm = BoltzmannMachine(3)
    set_random_weights(bm, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    data = [[1, -1, 1], [1, 1, 1]]
    before = [p.data for p in bm.parameters()]
    bm.train_step(data, 0.3, samples=data)
    assert [p.data for p in bm.parameters()] == before


def test_gibbs_conditional_matches_the_joint():
    bm = BoltzmannMachine(3)
    set_random_weights(bm, [0.8, -0.5, 0.3, 0.2, -0.6, 0.1])
    probs = dict(zip(bm.states(), bm.probabilities()))
    for s in bm.states():
        for i in range(3):
            up = list(s)
            up[i] = 1
            down = list(s)
            down[i] = -1
            exact = probs[tuple(up)] / (probs[tuple(up)] + probs[tuple(down)])
            h = bm.local_field(list(s), i)
            assert 1 / (1 + math.exp(-2 * h)) == pytest.approx(exact, abs=1e-12)


def test_gibbs_samples_follow_the_exact_distribution():
    bm = BoltzmannMachine(3)
    set_random_weights(bm, [0.8, -0.5, 0.3, 0.2, -0.6, 0.1])
    samples = bm.sample(20000, rng=random.Random(7), burn_in=50)
    assert len(samples) == 20000
    for s, p in zip(bm.states(), bm.probabilities()):
        assert samples.count(s) / len(samples) == pytest.approx(p, abs=0.015)
    assert bm.sample(5, rng=3) == bm.sample(5, rng=3)
    random.seed(11)
    first = bm.sample(5)
    random.seed(11)
    assert bm.sample(5) == first


def test_moments_types():
    bm = BoltzmannMachine(2, bias=False)
    m = bm.data_moments([[1, -1], [1, 1]])
    assert isinstance(m, Moments)
    assert m.means == [1.0, 0.0]
    assert m.correlations == [[1.0, 0.0], [0.0, 1.0]]


def test_boltzmann_bad_arguments_change_nothing():
    with pytest.raises(ValueError, match="enumerating all 2\\*\\*n states; n=17"):
        BoltzmannMachine(MAX_EXACT_UNITS + 1)
    assert BoltzmannMachine(MAX_EXACT_UNITS).n == MAX_EXACT_UNITS
    with pytest.raises(TypeError, match="bias must be a bool"):
        BoltzmannMachine(3, bias=1)
    bm = BoltzmannMachine(3)
    before = [p.data for p in bm.parameters()]
    with pytest.raises(ValueError, match="data is empty"):
        bm.train_step([], 0.1)
    with pytest.raises(ValueError, match=r"data\[0\] must have 3 units"):
        bm.train_step([[1, 1]], 0.1)
    with pytest.raises(TypeError, match="lr must be a real number"):
        bm.train_step([[1, 1, 1]], True)
    with pytest.raises(ValueError, match=r"samples\[0\]\[1\] must be -1 or \+1"):
        bm.train_step([[1, 1, 1]], 0.1, samples=[[1, 2, 1]])
    assert [p.data for p in bm.parameters()] == before
    with pytest.raises(ValueError, match="num_samples must be at least 1"):
        bm.sample(0)
    with pytest.raises(ValueError, match="burn_in"):
        bm.sample(1, burn_in=-1)


# -- graded units: the slide's y_i <- tanh(sum_j w_ij y_j) ------------------------------

graded = st.floats(-1.0, 1.0, allow_nan=False)


@given(
    st.integers(2, 8).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(weight, min_size=n * (n - 1) // 2, max_size=n * (n - 1) // 2),
            st.lists(graded, min_size=n, max_size=n),
        )
    ),
    st.floats(0.2, 10.0),
    st.integers(0, 1000),
)
def test_tanh_updates_never_increase_hopfields_continuous_energy(case, gain, seed):
    n, weights, start = case
    net = Hopfield(n)
    set_random_weights(net, weights)
    previous = net.continuous_energy(start, gain).data
    for step in net.recall_steps(start, update="tanh", gain=gain, rng=seed, max_sweeps=30):
        # the energy the step reports is E_β of its state, kept by differences
        direct = net.continuous_energy(list(step.state), gain).data
        assert step.energy == pytest.approx(direct, abs=1e-9)
        assert step.after == math.tanh(gain * step.field)
        assert direct <= previous + 1e-9 * (1 + abs(previous))
        previous = direct


@given(
    st.integers(2, 6).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(weight, min_size=n * (n - 1) // 2, max_size=n * (n - 1) // 2),
            st.lists(st.floats(-0.9, 0.9), min_size=n, max_size=n),
        )
    ),
    st.floats(0.3, 3.0),
)
def test_each_tanh_update_is_the_minimum_of_the_continuous_energy_along_its_unit(case, gain):
    n, weights, start = case
    net = Hopfield(n)
    set_random_weights(net, weights)
    for step in itertools.islice(net.recall_steps(start, update="tanh", gain=gain), 2 * n):
        assume(abs(step.after) < 1 - 1e-9)
        units = [Value(v) for v in step.state]
        net.continuous_energy(units, gain).backward()
        # the engine's dE_β/dy_i = -h_i + artanh(y_i)/β is 0 at y_i = tanh(β h_i), up to
        # round-off in log(1 − |y|), whose relative error is ε/(1 − |y|) near ±1
        tolerance = 1e-9 * (1 + abs(step.field)) + 1e-15 / (gain * (1 - abs(step.after)))
        assert units[step.unit].grad == pytest.approx(0.0, abs=tolerance)


def letters_network():
    rows = {
        "T": ["#######", "#######", "...#...", "...#...", "...#...", "...#...", "...#..."],
        "O": [".#####.", "#.....#", "#.....#", "#.....#", "#.....#", "#.....#", ".#####."],
    }
    patterns = [[1 if ch == "#" else -1 for row in r for ch in row] for r in rows.values()]
    net = Hopfield(49)
    net.store(patterns)
    return net, patterns


def test_the_slides_energy_goes_up_under_tanh_updates_while_the_continuous_one_goes_down():
    net, patterns = letters_network()
    start = patterns[0]
    steps = list(net.recall_steps(start, update="tanh"))
    w = full_matrix(net)

    def slide_energy(y):  # E(y) = -Σ_ij y_i w_ij y_j, all ordered pairs: twice nn's
        return -sum(y[i] * w[i][j] * y[j] for i in range(49) for j in range(49))

    slide = [slide_energy(start)] + [slide_energy(s.state) for s in steps[:49]]
    assert slide[0] == pytest.approx(2 * net.energy(start).data)
    rises = sum(b > a for a, b in itertools.pairwise(slide))
    assert rises == 49  # every update of the first sweep pulls a ±1 unit towards 0
    continuous = [net.continuous_energy(start).data] + [s.energy for s in steps]
    assert all(b <= a + 1e-12 for a, b in itertools.pairwise(continuous))
    assert continuous[-1] < continuous[0]


def test_a_high_gain_makes_graded_recall_binary_recall():
    net, patterns = letters_network()
    rng = random.Random(0)
    for pattern in patterns:
        damaged = list(pattern)
        for unit in rng.sample(range(49), 6):
            damaged[unit] = -damaged[unit]
        binary = net.recall(damaged)
        graded_state = net.recall(damaged, update="tanh", gain=50.0)
        assert binary == pattern
        assert [1 if v > 0 else -1 for v in graded_state] == binary
        assert min(abs(v) for v in graded_state) > 0.99
        # and the continuous energy tends to the binary one: G(±1)/β = log 2 / β
        gap = net.continuous_energy(binary, 50.0).data - net.energy(binary).data
        assert gap == pytest.approx(49 * math.log(2) / 50)


# G(v) = ½[(1+v) log(1+v) + (1−v) log(1−v)], to float64 from 200-bit mpmath
G_EXACT = {
    1e-20: 5e-41,
    -3e-09: 4.5e-18,
    0.01: 5.0000833366668455e-05,
    -0.3: 0.045700541525312846,
    0.49: 0.12538534828597875,
    0.5: 0.13081203594113697,
    -0.7: 0.2704380927539544,
    0.999999: 0.6931394262312008,
    1 - 1e-12: 0.6931471805452836,
    1.0: math.log(2),
    -1.0: math.log(2),
    0.0: 0.0,
}


@pytest.mark.parametrize("v", G_EXACT)
def test_the_continuous_energys_integral_term_is_within_3_ulp_and_the_same_for_values(v):
    # log(1 + v) rounds 1 + v first: at v = 0.01 that was 2e4 ulp off, and 0 below 1e-16
    net = Hopfield(1)  # no weights: E_β(y) = G(y)/β
    expected = G_EXACT[v]
    for gain in (1.0, 0.5):
        g = net.continuous_energy([v], gain).data * gain
        assert abs(g - expected) <= 3 * math.ulp(expected), (g, expected)
    if -1.0 < v < 1.0:  # a Value unit: the same formula built from ops, the same bits
        assert net.continuous_energy([Value(v)]).data == net.continuous_energy([v]).data


def test_graded_recall_arguments_are_checked():
    net = Hopfield(3)
    with pytest.raises(ValueError, match="update must be one of sign, tanh; got 'relu'"):
        net.recall([1, 1, 1], update="relu")
    with pytest.raises(ValueError, match="gain"):
        net.recall([0.5, 0.5, 0.5], update="tanh", gain=0.0)
    with pytest.raises(ValueError, match=r"state\[1\] must be in \[-1, 1\], got 1.5"):
        net.recall([0.5, 1.5, 0.0], update="tanh")
    with pytest.raises(TypeError, match=r"state\[0\] must be a number"):
        net.recall([True, 0.5, 0.0], update="tanh")
    with pytest.raises(ValueError, match=r"state\[0\] must be -1 or \+1"):
        net.recall([0.5, 1, 1])  # binary recall still wants ±1
    with pytest.raises(ValueError, match=r"as a Value must be in \(-1, 1\)"):
        net.continuous_energy([Value(1.0), 0.0, 0.0])
    assert net.recall([0.5, -0.25, 0.0], update="tanh") == [0.0, 0.0, 0.0]  # no weights yet


def test_boltzmann_fit_is_repeated_train_steps_and_reports_the_log_likelihood():
    data = [(1, 1, -1), (1, 1, 1), (-1, -1, 1), (1, 1, -1)]
    by_fit, by_steps = BoltzmannMachine(3), BoltzmannMachine(3)
    curve = by_fit.fit(data, lr=0.1, steps=5)
    expected = [by_steps.log_likelihood(data).data]
    for _ in range(5):
        by_steps.train_step(data, 0.1)
        expected.append(by_steps.log_likelihood(data).data)
    assert curve == pytest.approx(expected, rel=1e-12)
    assert [p.data for p in by_fit.parameters()] == [p.data for p in by_steps.parameters()]
    assert curve[-1] > curve[0]
    sampled = BoltzmannMachine(3)
    noisy = sampled.fit(data, lr=0.1, steps=5, samples=30, rng=0)
    assert len(noisy) == 6 and noisy[-1] > noisy[0]
    assert sampled.fit(data, lr=0.1, steps=1, samples=30, rng=0) != []
    with pytest.raises(ValueError, match="steps"):
        BoltzmannMachine(3).fit(data, lr=0.1, steps=0)
    with pytest.raises(ValueError, match="burn_in"):
        BoltzmannMachine(3).fit(data, lr=0.1, steps=1, samples=3, burn_in=-1)


def test_continuous_energy_names_the_bad_unit_by_its_position_in_the_state():
    import pytest

    from tapegrad.engine import Value
    from tapegrad.nn import Hopfield

    net = Hopfield(3)
    with pytest.raises(ValueError, match=r"state\[2\] must be in \[-1, 1\], got 2.0"):
        net.continuous_energy([Value(0.1), 0.5, 2.0])


# -- the engine's drawing of the energy (issue 20 item 5) ------------------------------


def test_the_engine_draws_the_energy_with_its_units_weights_and_red_square():
    from tapegrad.engine import draw

    net = Hopfield(3)
    net.store([[1, -1, 1]])
    e = net.energy([1, -1, 1])
    blocks = draw(e, "blocks").source
    square = re.search(r'^\t+(\w+) \[label="E\(y\)" color="#ff3333"', blocks, re.M).group(1)
    feeders = re.findall(rf"^\t(\w+) -> {square} ", blocks, re.M)
    names = dict(re.findall(r"^\t(\w+) \[label=(\w+)", blocks, re.M))
    assert [names[f] for f in feeders] == ["y0", "y1", "y2"]  # the weights are implicit
    assert not re.search(rf"^\t{square} -> ", blocks, re.M)  # a scalar-valued function
    values = draw(e).source
    records = re.findall(r'^\t+(\w+) \[label="(?:\{ )?(\w+) \|', values, re.M)
    named = {label: node for node, label in records}
    assert {"w01", "w02", "w12", "y0", "y1", "y2"} <= set(named)
    # each term y_i w_ij y_j is one product of its unit, its weight and its other unit
    products = re.findall(r'^\t+(\w+) \[label="\*"', values, re.M)
    inputs = {p: re.findall(rf"^\t(\w+) -> {p} ", values, re.M) for p in products}
    expected = [[named[f"y{i}"], named[f"w{i}{j}"], named[f"y{j}"]] for i, j in net.pairs()]
    assert sorted(inputs.values()) == sorted(expected)
    # a product with a zero weight reads 0.0000, not -0.0000
    assert "-0.0000" not in draw(BoltzmannMachine(2).energy([1, -1])).source
