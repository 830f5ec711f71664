"""Pick/pack on its own is a FCFS multi-server queue: check it against queueing theory.

`PickPack.serve(t)` returns the completion time of an order arriving at t. With Poisson arrivals
and exponential service it is an M/M/c queue, whose mean wait in queue is given by Erlang C;
with one server and gamma service it is an M/G/1 queue (Pollaczek–Khinchine). We also check it
order by order against an independent SimPy `Resource` simulation.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import simpy

from twin.distributions import DrawBuffer, Gamma
from twin.model.warehouse import PickPack


class Recording:
    """A Distribution that remembers every value it hands out, in order."""

    def __init__(self, dist):
        self.dist = dist
        self.blocks: list[np.ndarray] = []

    def sample(self, rng, size):
        values = self.dist.sample(rng, size)
        self.blocks.append(values)
        return values

    @property
    def mean(self):
        return self.dist.mean

    @property
    def variance(self):
        return self.dist.variance

    def drawn(self, n: int) -> np.ndarray:
        """The first `n` values handed out (DrawBuffer draws whole blocks, so there may be more)."""
        return np.concatenate(self.blocks)[:n]


def erlang_c(c: int, offered: float) -> float:
    """Probability an arrival waits in an M/M/c queue with offered load a = λ/μ (Erlang C)."""
    rho = offered / c
    terms = sum(offered**k / math.factorial(k) for k in range(c))
    top = offered**c / math.factorial(c) / (1.0 - rho)
    return top / (terms + top)


def erlang_c_mean_wait(c: int, lam: float, mu: float) -> float:
    """Mean wait in queue Wq = C(c, λ/μ) / (cμ − λ)."""
    return erlang_c(c, lam / mu) / (c * mu - lam)


def run_queue(c: int, lam: float, service, n: int, seed: int):
    """Feed n Poisson arrivals through a PickPack; return arrivals, service times, completions, busy."""
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1.0 / lam, n))
    recording = Recording(service)
    pp = PickPack(c, DrawBuffer(recording, np.random.default_rng(seed + 1)), float(arrivals[-1]))
    serve = pp.serve
    done = np.fromiter((serve(t) for t in arrivals.tolist()), float, n)
    return arrivals, recording.drawn(n), done, pp.busy


def batch_means(values: np.ndarray, batches: int) -> tuple[float, float]:
    """Mean and its standard error from `batches` contiguous batch means."""
    usable = len(values) - len(values) % batches
    means = values[:usable].reshape(batches, -1).mean(axis=1)
    return float(means.mean()), float(means.std(ddof=1) / math.sqrt(batches))


def test_erlang_c_formula_known_value():
    # Sanity of the helper itself: textbook value C(2, 1) = 1/3 (two servers, offered load 1).
    assert erlang_c(2, 1.0) == pytest.approx(1.0 / 3.0, rel=1e-12)


def test_mm4_mean_wait_matches_erlang_c():
    # Theory: M/M/c with c = 4, ρ = 0.8 → Wq = C(4, 3.2)/(cμ − λ) (Erlang C).
    # 2,000,000 customers (~1 s), 40 batches of ~50,000 (the wait's autocorrelation dies out
    # within a few hundred customers at ρ = 0.8, so batches are nearly independent): the
    # batch-means SE comes out ≈ 0.8–1.3 % of Wq over seeds, so the 5 % tolerance is ≥ 4 SE —
    # tight enough to catch a wrong discipline (e.g. a fixed worker per order, or service
    # starting at arrival), loose enough not to flake. The first 1 % of customers are dropped
    # as warm-up (the queue starts empty).
    c, mu, rho = 4, 12.0, 0.8  # 12 orders/h per worker = 5 min mean service
    lam = rho * c * mu
    n = 2_000_000
    arrivals, service, done, busy = run_queue(c, lam, Gamma(1.0 / mu, 1.0), n, seed=20240611)
    wait = done - service - arrivals
    assert wait.min() >= -1e-9
    warm = n // 100
    mean_wait, se = batch_means(wait[warm:], batches=40)
    theory = erlang_c_mean_wait(c, lam, mu)
    print(
        f"M/M/4 Wq: {60 * mean_wait:.4f} min vs Erlang C {60 * theory:.4f} min "
        f"({100 * (mean_wait / theory - 1):+.2f} %, batch SE {100 * se / theory:.2f} %)"
    )
    assert se / theory < 0.02
    assert mean_wait == pytest.approx(theory, rel=0.05)
    # Probability of waiting is Erlang C itself (same run; SE ≈ 0.5 % absolute).
    p_wait = float((wait[warm:] > 1e-12).mean())
    assert p_wait == pytest.approx(erlang_c(c, lam / mu), abs=0.02)
    # Utilisation: busy worker-hours inside the horizon ÷ (c × horizon) → ρ.
    assert busy / (c * arrivals[-1]) == pytest.approx(rho, abs=0.005)


def test_mg1_mean_wait_matches_pollaczek_khinchine():
    # Theory: M/G/1 with gamma service, cv = 0.5, ρ = 0.7 → Wq = ρ·E[S]·(1 + cv²) / (2(1 − ρ)).
    # 1,000,000 customers in 40 batches: batch-means SE ≈ 0.4–0.7 % of Wq, tolerance 5 % ≥ 7 SE.
    # Checks that non-exponential (gamma, service_cv ≠ 1) service is queued correctly too.
    mu, cv, rho = 20.0, 0.5, 0.7
    lam = rho * mu
    n = 1_000_000
    arrivals, service, done, _ = run_queue(1, lam, Gamma(1.0 / mu, cv), n, seed=77)
    assert service.mean() == pytest.approx(1.0 / mu, rel=0.01)
    wait = done - service - arrivals
    mean_wait, se = batch_means(wait[n // 100 :], batches=40)
    theory = rho * (1.0 / mu) * (1 + cv**2) / (2 * (1 - rho))
    print(
        f"M/G/1 Wq: {60 * mean_wait:.4f} min vs P-K {60 * theory:.4f} min "
        f"({100 * (mean_wait / theory - 1):+.2f} %, batch SE {100 * se / theory:.2f} %)"
    )
    assert se / theory < 0.02
    assert mean_wait == pytest.approx(theory, rel=0.05)


def simpy_fcfs(arrivals: np.ndarray, service: np.ndarray, c: int) -> np.ndarray:
    """Completion times of the same customers in a SimPy FCFS `Resource` with `c` servers."""
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=c)
    done = np.full(len(arrivals), np.nan)

    def customer(i):
        yield env.timeout(float(arrivals[i]))
        with servers.request() as req:
            yield req
            yield env.timeout(float(service[i]))
            done[i] = env.now

    for i in range(len(arrivals)):
        env.process(customer(i))
    env.run()
    return done


@pytest.mark.parametrize(("c", "rho"), [(4, 0.8), (1, 0.9), (3, 1.1)])
def test_pick_pack_equals_simpy_resource_order_by_order(c, rho):
    # Exactness: the heap of worker free times is the same FCFS multi-server queue as a SimPy
    # Resource fed the same arrival and service times (including an overloaded case, ρ > 1).
    mu = 10.0
    arrivals, service, done, _ = run_queue(c, rho * c * mu, Gamma(1.0 / mu, 1.0), 4000, seed=c)
    reference = simpy_fcfs(arrivals, service, c)
    assert not np.isnan(reference).any()
    np.testing.assert_allclose(done, reference, rtol=0, atol=1e-9)
    # and the queue did form (otherwise the test would be trivial)
    assert (done - service - arrivals > 1e-9).mean() > 0.2
