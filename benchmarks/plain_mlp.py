"""The plain-float floor shared by ``bench.py`` and ``batched.py``: an MLP with ReLU
hidden units and a linear output, its mean hinge loss ``max(0, 1 − y s)`` and a
hand-written backward pass, in Python floats, one sample after another. Both scripts
time this same loop body (it is the floor every other column is divided by)."""

from __future__ import annotations


def hinge_loss_and_grads(W, B, X, y):
    """``(Σ hinge, gW, gB)`` for the network with weights ``W[layer][neuron][input]``
    and biases ``B[layer][neuron]`` on the samples ``X`` with ±1 labels ``y``.

    The loss is the *sum* over the samples (the caller divides by ``len(X)``); the
    gradients, shaped like ``W`` and ``B``, are those of the *mean*.
    """
    gW = [[[0.0] * len(w) for w in layer] for layer in W]
    gB = [[0.0] * len(layer) for layer in B]
    scale = 1.0 / len(X)
    total = 0.0
    last = len(W) - 1
    for x, target in zip(X, y):
        # forward, keeping each layer's input and pre-activation
        acts, pres, a = [x], [], x
        for i, (layer, biases) in enumerate(zip(W, B)):
            pre = []
            for w, b in zip(layer, biases):
                s = b
                for wi, ai in zip(w, a):
                    s += wi * ai
                pre.append(s)
            pres.append(pre)
            a = pre if i == last else [s if s > 0.0 else 0.0 for s in pre]
            acts.append(a)
        margin = 1.0 - target * a[0]
        total += margin if margin > 0.0 else 0.0
        # backward: d loss / d score, then layer by layer
        upstream = [-target * scale if margin > 0.0 else 0.0]
        for i in range(last, -1, -1):
            if i != last:
                upstream = [g if s > 0.0 else 0.0 for g, s in zip(upstream, pres[i])]
            inputs, below = acts[i], [0.0] * len(acts[i])
            for j, (w, g) in enumerate(zip(W[i], upstream)):
                gB[i][j] += g
                gw = gW[i][j]
                for k, ai in enumerate(inputs):
                    gw[k] += ai * g
                    below[k] += w[k] * g
            upstream = below
    return total, gW, gB
