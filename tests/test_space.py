"Search space: bad input is refused with the field, the value and what is allowed; encode/decode properties."
import json
import math

import numpy as np
import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metahpo_kit.space import SEED_SPACE, Categorical, Float, Int, SearchSpace

GOOD = dict(lr=0.01, batch_size=32, layers=2, units=128, optimizer="sgd", dropout=0.2)


def test_seed_space_is_the_plans_grid():
    grid = SEED_SPACE.grid()
    assert len(grid) == 486 == SEED_SPACE.size
    assert {c["lr"] for c in grid} == {0.001, 0.01, 0.1}
    assert {c["batch_size"] for c in grid} == {16, 32, 64}
    assert {c["layers"] for c in grid} == {2, 3, 4}
    assert {c["units"] for c in grid} == {64, 128, 256}
    assert {c["optimizer"] for c in grid} == {"adam", "sgd", "rmsprop"}
    assert {c["dropout"] for c in grid} == {0.2, 0.5}
    assert len({json.dumps(c, sort_keys=True) for c in grid}) == 486


def test_round_trip_exact_on_every_grid_point():
    for c in SEED_SPACE.grid():
        assert SEED_SPACE.decode(SEED_SPACE.encode(c)) == c


def test_config_missing_a_parameter():
    bad = {k: v for k, v in GOOD.items() if k != "units"}
    with pytest.raises(ValueError, match=r"missing parameter\(s\) \['units'\]"):
        SEED_SPACE.validate(bad)


def test_config_with_an_unknown_parameter():
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['momentum'\].*the space has"):
        SEED_SPACE.validate({**GOOD, "momentum": 0.9})


@pytest.mark.parametrize("field,value,allowed", [
    ("batch_size", 0, "Int(16, 64"),
    ("batch_size", 48, "values=[16, 32, 64]"),
    ("lr", 0.5, "Float(0.001, 0.1, log=True"),
    ("layers", 2.5, "Int(2, 4)"),
    ("optimizer", "lbfgs", "Categorical(['adam', 'sgd', 'rmsprop'])"),
    ("dropout", "0.2", "Float(0.2, 0.5"),
])
def test_value_outside_its_domain(field, value, allowed):
    with pytest.raises(ValueError) as e:
        SEED_SPACE.validate({**GOOD, field: value})
    assert f"{field}={value!r} is not in" in str(e.value)
    assert allowed in str(e.value)


def test_float_low_not_below_high():
    with pytest.raises(ValueError, match="low must be < high, got low=0.1, high=0.1"):
        Float("lr", 0.1, 0.1)
    with pytest.raises(ValueError, match="low must be < high"):
        Float("lr", 1.0, 0.1)


@pytest.mark.parametrize("low", [0.0, -1e-3])
def test_log_range_including_zero(low):
    with pytest.raises(ValueError, match="needs low > 0.*includes 0"):
        Float("lr", low, 0.1, log=True)
    with pytest.raises(ValueError, match="needs low > 0"):
        Int("units", int(low), 8, log=True)


def test_encoding_a_config_of_another_space():
    other = SearchSpace((Float("lr", 1e-4, 1e-1, log=True), Float("momentum", 0.1, 0.99)))
    with pytest.raises(ValueError, match="config does not fit this space"):
        SEED_SPACE.encode(other.sample(1, seed=0)[0])
    with pytest.raises(ValueError, match="this space needs d=8"):
        SEED_SPACE.decode(np.zeros(2))


def test_grid_of_a_continuous_space_is_refused():
    space = SearchSpace((Float("lr", 1e-4, 1e-1, log=True), Int("layers", 1, 3)))
    with pytest.raises(ValueError, match="grid\\(\\) needs a finite space.*lr="):
        space.grid()
    assert space.size == math.inf


def test_duplicate_names_and_bad_categoricals():
    with pytest.raises(ValueError, match="repeated: \\['lr'\\]"):
        SearchSpace((Float("lr", 0.1, 1.0), Float("lr", 0.1, 1.0)))
    with pytest.raises(ValueError, match="distinct"):
        Categorical("opt", ("adam", "adam"))


def test_difference_names_what_changed():
    other = SearchSpace(tuple(p if p.name != "units" else Int("units", 32, 512, log=True) for p in SEED_SPACE.params))
    diff = SEED_SPACE.difference(other)
    assert len(diff) == 1 and diff[0].startswith("units:")


# ---- properties (hypothesis) -------------------------------------------------------------------------------

names = st.text(alphabet="abcdefghij_", min_size=1, max_size=8)


@st.composite
def params(draw, name):
    kind = draw(st.sampled_from(["cat", "int", "float", "logfloat", "valued", "step"]))
    if kind == "cat":
        choices = draw(st.lists(st.one_of(st.text(max_size=4), st.integers(-5, 5), st.booleans()),
                                min_size=1, max_size=5, unique_by=repr))
        return Categorical(name, tuple(choices))
    if kind == "int":
        lo, step = draw(st.integers(-100, 100)), draw(st.integers(1, 7))
        return Int(name, lo, lo + step * draw(st.integers(1, 200)), step=step)
    if kind == "float":
        lo = draw(st.floats(-1e3, 1e3))
        return Float(name, lo, lo + draw(st.floats(1e-3, 1e3)))
    if kind == "logfloat":
        lo = draw(st.floats(1e-6, 1.0))
        return Float(name, lo, lo * draw(st.floats(1.5, 1e4)), log=True)
    if kind == "step":
        lo = draw(st.integers(-100, 100)) / 10  # lattices are written with short decimals, as Optuna expects
        step = draw(st.sampled_from([0.1, 0.25, 0.5]))
        return Float(name, lo, round(lo + step * draw(st.integers(1, 20)), 10), step=step)
    vals = draw(st.lists(st.floats(1e-4, 1e4), min_size=1, max_size=6, unique=True))
    return Float(name, min(vals), max(vals), log=draw(st.booleans()), values=tuple(vals))


@st.composite
def spaces(draw):
    ns = draw(st.lists(names, min_size=1, max_size=5, unique=True))
    return SearchSpace(tuple(draw(params(n)) for n in ns))


def _close(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


@settings(max_examples=200, deadline=None)
@given(spaces(), st.data())
def test_decode_gives_a_valid_config_and_round_trips(space, data):
    u = np.array(data.draw(st.lists(st.floats(-0.5, 1.5), min_size=space.dim, max_size=space.dim)))
    config = space.decode(u)
    assert space.validate(config) is not None           # any vector decodes to a valid config
    v = space.encode(config)
    assert v.shape == (space.dim,) and np.all((v >= 0) & (v <= 1))
    again = space.decode(v)                              # decode(encode(x)) == x
    assert all(_close(again[k], config[k]) for k in space.names), (config, again)


@settings(max_examples=100, deadline=None)
@given(spaces(), st.integers(0, 2**31 - 1))
def test_samples_are_valid_and_seeded(space, seed):
    a, b = space.sample(5, seed=seed), space.sample(5, seed=seed)
    assert a == b
    for c in a:
        space.validate(c)


@settings(max_examples=100, deadline=None)
@given(spaces())
def test_json_round_trip(space):
    assert SearchSpace.from_dict(json.loads(json.dumps(space.to_dict()))) == space


@settings(max_examples=100, deadline=None)
@given(spaces())
def test_optuna_round_trip_keeps_the_domain(space):
    back = SearchSpace.from_optuna(space.to_optuna())
    assert back.names == space.names
    for c in space.sample(10, seed=1):
        back.validate(c)                                 # every config of the space is valid in the converted one
    if space.is_finite:
        assert back.size == space.size
        # drawn spaces reach 10^11 configs, and a grid of 10^7 takes gigabytes (the cause of a CI run killed for
        # memory): enumerate only small grids
        if space.size <= 20_000:
            assert sorted(map(repr, back.grid())) == sorted(map(repr, space.grid()))


def test_optuna_trial_accepts_the_space():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    dists = SEED_SPACE.to_optuna()
    trial = study.ask(dists)
    SEED_SPACE.validate(trial.params)


def test_mixed_space_round_trips_through_json_optuna_and_the_unit_box():
    from metahpo_kit.space import MIXED_SPACE
    assert SearchSpace.from_dict(json.dumps(MIXED_SPACE.to_dict())) == MIXED_SPACE   # as a meta-dataset stores it
    assert SearchSpace.from_optuna(MIXED_SPACE.to_optuna()) == MIXED_SPACE
    assert not MIXED_SPACE.is_finite and MIXED_SPACE.size == math.inf
    for c in MIXED_SPACE.sample(50, seed=1):
        back = MIXED_SPACE.decode(MIXED_SPACE.encode(c))
        assert {k: v for k, v in back.items() if isinstance(v, (str, int))} == \
            {k: v for k, v in c.items() if isinstance(v, (str, int))}
        assert np.allclose(MIXED_SPACE.encode(back), MIXED_SPACE.encode(c), atol=1e-12)
    with pytest.raises(ValueError, match=r"batch_size=64 is not in Int\(32, 128, values=\[32, 128\]\)"):
        MIXED_SPACE.validate({**MIXED_SPACE.sample(1)[0], "batch_size": 64})
