"""The immutable traced network and its interpreter passes.

Examples
--------
>>> import torch
>>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
>>> W = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
>>> net = CPWLNetwork.sequential((2,), [Dense(W, None), PiecewiseLinear.relu(), Dense(torch.ones(1, 2, dtype=torch.float64))])
>>> net.num_units, net.input_dim, net.output_dim
(2, 2, 1)
>>> net.patterns(torch.tensor([[1.0, -1.0]], dtype=torch.float64))
tensor([[1, 0]], dtype=torch.int16)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import InvalidParameterError, NumericalError, ShapeError
from .ops import MaxOp, Op, PiecewiseLinear

__all__ = ["Node", "CPWLNetwork"]


@dataclass(frozen=True, eq=False)
class Node:
    """One node of the IR graph.

    Attributes
    ----------
    op : Op or None
        The op; ``None`` for the input node (always node 0).
    inputs : tuple of int
        Indices of the nodes feeding this one (all smaller than its own index).
    shape : tuple of int
        Per-sample output shape.
    name : str
        Node name (from the tracer).
    where : str
        Where the node came from in the user's model (module path or function).
    """

    op: Op | None
    inputs: tuple[int, ...]
    shape: tuple[int, ...]
    name: str = ""
    where: str = ""

    @property
    def size(self) -> int:
        """Number of scalar entries per sample."""
        return math.prod(self.shape)


class CPWLNetwork:
    """An immutable continuous piecewise-linear network: a DAG of IR ops.

    Build one with :func:`regionlab.trace` from a PyTorch model, or directly with
    :meth:`sequential` or from a list of :class:`Node`.

    Parameters
    ----------
    nodes : sequence of Node
        Topologically ordered; node 0 is the input (``op=None``).
    output : int, optional
        Index of the output node (the last node by default).

    Examples
    --------
    >>> import torch
    >>> from regionlab.ir import Dense, PiecewiseLinear
    >>> net = CPWLNetwork.sequential((1,), [Dense(torch.tensor([[1.0], [-1.0]], dtype=torch.float64)), PiecewiseLinear.relu()])
    >>> net(torch.tensor([[2.0]], dtype=torch.float64))
    tensor([[2., 0.]], dtype=torch.float64)
    """

    def __init__(self, nodes, output: int | None = None, *, validate: bool = True):
        nodes = tuple(nodes)
        if not nodes or nodes[0].op is not None:
            raise InvalidParameterError("A CPWLNetwork needs node 0 to be the input node (op=None).")
        self._nodes = nodes
        self._output = len(nodes) - 1 if output is None else int(output)
        if validate:
            self._validate()
        # last use of each node, for freeing intermediate values in the engines
        last = list(range(len(nodes)))
        for i, n in enumerate(nodes):
            for j in n.inputs:
                last[j] = max(last[j], i)
        last[self._output] = len(nodes)
        self._last_use = tuple(last)
        self._nonlinear = tuple(i for i, n in enumerate(nodes) if n.op is not None and n.op.kind != "linear")
        offsets, start = [], 0
        for i in self._nonlinear:
            offsets.append(start)
            start += nodes[i].size
        self._unit_offsets = tuple(offsets)
        self._num_units = start

    def _validate(self):
        for i, n in enumerate(self._nodes[1:], start=1):
            if n.op is None:
                raise InvalidParameterError(f"Node {i} ({n.name}) has no op; only node 0 may be the input.")
            if any(j >= i or j < 0 for j in n.inputs):
                raise InvalidParameterError(f"Node {i} ({n.name}) reads a later node; nodes must be in topological order.")
            if n.op.kind not in ("linear", "univariate", "max"):
                raise InvalidParameterError(f"Node {i} ({n.name}) has an op of unknown kind {n.op.kind!r}.")
            if n.op.kind != "linear" and len(n.inputs) != 1:
                raise InvalidParameterError(f"Nonlinear node {i} ({n.name}) must have exactly one input.")
            bad = n.op.check_finite()
            if bad is not None:
                raise NumericalError(
                    f"The {bad!r} tensor of node {n.name!r} ({n.where or n.op.describe()}) contains NaN or inf; "
                    "check the model's weights."
                )

    # ------------------------------------------------------------------ construction

    @staticmethod
    def sequential(input_shape, ops, names=None) -> CPWLNetwork:
        """Chain ``ops`` after an input of per-sample shape ``input_shape``.

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import Dense
        >>> CPWLNetwork.sequential((3,), [Dense(torch.zeros(2, 3, dtype=torch.float64))]).output_shape
        (2,)
        """
        shape = tuple(int(s) for s in input_shape)
        nodes = [Node(None, (), shape, "input", "input")]
        for k, op in enumerate(ops):
            shape = tuple(op.output_shape(shape))
            name = names[k] if names is not None else f"{op.describe()}_{k}"
            nodes.append(Node(op, (k,), shape, name, name))
        return CPWLNetwork(nodes)

    # -------------------------------------------------------------------- properties

    @property
    def nodes(self) -> tuple[Node, ...]:
        """All nodes in topological order."""
        return self._nodes

    @property
    def output_node(self) -> int:
        """Index of the output node."""
        return self._output

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Per-sample input shape."""
        return self._nodes[0].shape

    @property
    def input_dim(self) -> int:
        """Number of input entries per sample (n0)."""
        return self._nodes[0].size

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Per-sample output shape."""
        return self._nodes[self._output].shape

    @property
    def output_dim(self) -> int:
        """Number of output entries per sample."""
        return self._nodes[self._output].size

    @property
    def nonlinear_nodes(self) -> tuple[int, ...]:
        """Indices of the univariate and max nodes, in order."""
        return self._nonlinear

    @property
    def num_units(self) -> int:
        """Total number of nonlinear units (length of an activation pattern)."""
        return self._num_units

    @property
    def unit_offsets(self) -> tuple[int, ...]:
        """Start of each nonlinear node's units inside a pattern vector."""
        return self._unit_offsets

    @property
    def last_use(self) -> tuple[int, ...]:
        """For each node, the index of the last node that reads it."""
        return self._last_use

    @property
    def device(self) -> torch.device:
        """Device of the network's tensors."""
        for n in self._nodes[1:]:
            for t in n.op.tensors().values():
                return t.device
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype of the network's tensors."""
        for n in self._nodes[1:]:
            for t in n.op.tensors().values():
                if t.is_floating_point():
                    return t.dtype
        return torch.float64

    def layer_widths(self) -> list[int]:
        """Number of units of each nonlinear node.

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import Dense, PiecewiseLinear
        >>> CPWLNetwork.sequential((2,), [Dense(torch.zeros(3, 2, dtype=torch.float64)), PiecewiseLinear.relu()]).layer_widths()
        [3]
        """
        return [self._nodes[i].size for i in self._nonlinear]

    def to(self, device=None, dtype=None) -> CPWLNetwork:
        """A copy on ``device`` with floating tensors cast to ``dtype``.

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import Dense
        >>> net = CPWLNetwork.sequential((2,), [Dense(torch.zeros(1, 2, dtype=torch.float64))])
        >>> net.to(dtype=torch.float32).dtype
        torch.float32
        """
        nodes = [self._nodes[0]] + [
            Node(n.op.to(device, dtype), n.inputs, n.shape, n.name, n.where) for n in self._nodes[1:]
        ]
        return CPWLNetwork(nodes, self._output, validate=False)

    def __repr__(self):
        lines = [f"CPWLNetwork(input={self.input_shape}, output={self.output_shape}, units={self.num_units}"]
        for i, n in enumerate(self._nodes[1:], start=1):
            lines.append(f"  [{i}] {n.op.describe()} <- {list(n.inputs)} -> {n.shape}  # {n.where}")
        return "\n".join(lines) + ")"

    def __getstate__(self):
        return {"nodes": self._nodes, "output": self._output}

    def __setstate__(self, state):
        self.__init__(state["nodes"], state["output"], validate=False)

    # ---------------------------------------------------------------- interpretation

    def as_batch(self, x, name: str = "x") -> Tensor:
        """Coerce ``x`` to a batch ``(B, *input_shape)`` on the network's device and dtype.

        Accepts one sample (the input shape), a batch, or flat vectors ``(B, n0)``.

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import Dense
        >>> net = CPWLNetwork.sequential((2,), [Dense(torch.zeros(1, 2, dtype=torch.float64))])
        >>> net.as_batch([1.0, 2.0]).shape
        torch.Size([1, 2])
        """
        x = torch.as_tensor(x)
        if not x.is_floating_point():
            x = x.to(torch.float64)
        x = x.to(device=self.device, dtype=self.dtype)
        shp = self.input_shape
        if tuple(x.shape) == shp:
            return x.unsqueeze(0)
        if x.dim() == len(shp) + 1 and tuple(x.shape[1:]) == shp:
            return x
        if x.dim() == 2 and x.shape[1] == self.input_dim:
            return x.reshape(x.shape[0], *shp)
        if x.dim() == 1 and x.shape[0] == self.input_dim:
            return x.reshape(1, *shp)
        raise ShapeError(
            f"The '{name}' parameter must have the network's input shape {shp} (one sample), "
            f"(B, *{shp}) or (B, {self.input_dim}). Got shape {tuple(x.shape)} instead."
        )

    def _run(self, x: Tensor, on_nonlinear=None) -> Tensor:
        values: dict[int, Tensor] = {0: x}
        for i, n in enumerate(self._nodes[1:], start=1):
            args = [values[j] for j in n.inputs]
            if on_nonlinear is not None and n.op.kind != "linear":
                on_nonlinear(i, n, args[0])
            values[i] = n.op.forward(*args)
            for j in n.inputs:
                if self._last_use[j] <= i:
                    del values[j]
            if i == self._output:
                return values[i]
        return values[self._output]

    def forward(self, x) -> Tensor:
        """Evaluate the network on a batch ``(B, *input_shape)`` (differentiable in ``x``).

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import Dense, PiecewiseLinear
        >>> net = CPWLNetwork.sequential((1,), [PiecewiseLinear.abs()])
        >>> net.forward(torch.tensor([[-3.0]], dtype=torch.float64))
        tensor([[3.]], dtype=torch.float64)
        """
        if not isinstance(x, Tensor) or tuple(x.shape[1:]) != self.input_shape:
            x = self.as_batch(x)
        return self._run(x)

    __call__ = forward

    def forward_with_preactivations(self, x) -> tuple[Tensor, list[Tensor]]:
        """Output and the flattened input ``(B, U_l)`` of every nonlinear node.

        Differentiable: usable inside a training step (e.g. for regularizers on
        pre-activations). For max nodes the recorded tensor is the node's input.

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import Dense, PiecewiseLinear
        >>> net = CPWLNetwork.sequential((2,), [Dense(torch.eye(2, dtype=torch.float64)), PiecewiseLinear.relu()])
        >>> y, pre = net.forward_with_preactivations(torch.tensor([[1.0, -2.0]], dtype=torch.float64))
        >>> pre[0]
        tensor([[ 1., -2.]], dtype=torch.float64)
        """
        if not isinstance(x, Tensor) or tuple(x.shape[1:]) != self.input_shape:
            x = self.as_batch(x)
        pre: list[Tensor] = []
        y = self._run(x, lambda i, n, a: pre.append(a.reshape(a.shape[0], -1)))
        return y, pre

    def preactivations(self, x) -> list[Tensor]:
        """The flattened inputs of the nonlinear nodes; see :meth:`forward_with_preactivations`.

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import PiecewiseLinear
        >>> CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()]).preactivations(torch.ones(1, 2, dtype=torch.float64))[0].shape
        torch.Size([1, 2])
        """
        return self.forward_with_preactivations(x)[1]

    def patterns(self, x) -> Tensor:
        """Activation pattern ``(B, num_units)`` (int16) of each input point.

        See :mod:`regionlab.ir.ops` for the coding of pieces, exact breakpoint hits and
        max arguments.

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import PiecewiseLinear
        >>> net = CPWLNetwork.sequential((3,), [PiecewiseLinear.relu()])
        >>> net.patterns(torch.tensor([[-1.0, 0.0, 1.0]], dtype=torch.float64))
        tensor([[ 0, -1,  1]], dtype=torch.int16)
        """
        x = self.as_batch(x)
        parts: list[Tensor] = []

        def record(i, n, a):
            z = a.reshape(a.shape[0], -1)
            parts.append(n.op.piece(z) if n.op.kind == "univariate" else n.op.pattern(a))

        with torch.no_grad():
            self._run(x, record)
        if not parts:
            return torch.zeros((x.shape[0], 0), dtype=torch.int16, device=x.device)
        return torch.cat(parts, dim=1)

    def input_chain(self) -> int:
        """The last node of the chain of linear nodes through which alone the input is read.

        The largest ``p`` such that nodes ``1..p`` are linear, each reads only the node
        before it, and no node after ``p`` reads any node before ``p``: every later value
        depends on the input only through node ``p``, an affine map of the input that is
        the same for every point. 0 when node 1 is not such a node.

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import Dense, PiecewiseLinear
        >>> W = torch.ones(2, 3, dtype=torch.float64)
        >>> CPWLNetwork.sequential((3,), [Dense(W), PiecewiseLinear.relu()]).input_chain()
        1
        """
        p = 0
        for i in range(1, self._output + 1):
            node = self._nodes[i]
            if node.op.kind != "linear" or node.inputs != (i - 1,) or self._last_use[i - 1] != i:
                break
            p = i
        return p

    def input_basis(self):
        """Orthonormal coordinates of the part of the input space that the network reads.

        When the input reaches the rest of the network only through an affine map
        ``y = J x + c`` onto ``m < n`` numbers (:meth:`input_chain`, e.g. the first
        ``nn.Linear`` of an MNIST MLP), every gradient ``dz/dx`` of a later value lies in
        the row space of ``J``. With ``J^T = Q R`` (``Q`` orthonormal ``(n, m)``), affine
        forms in the coordinates ``s`` of ``x = x0 + Q s`` have the dot products and l2
        norms of the forms in ``x`` with ``m`` columns instead of ``n``; ``Q @ g`` maps a
        gradient back, ``Q.T @ d`` a direction in. Returns ``(p, Q, R)`` (``p`` the chain's
        last node), or ``None`` when there is no such chain or ``J`` is numerically rank
        deficient (a gradient exactly zero in ``x`` could then be a rounding residue in
        ``s``). See :meth:`point_forms`.

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import Dense, PiecewiseLinear
        >>> W = torch.tensor([[1.0, 1.0, 0.0]], dtype=torch.float64)
        >>> p, Q, R = CPWLNetwork.sequential((3,), [Dense(W), PiecewiseLinear.relu()]).input_basis()
        >>> p, Q.shape, round(abs(float(R[0, 0])) ** 2, 12)
        (1, torch.Size([3, 1]), 2.0)
        """
        p = self.input_chain()
        n = self.input_dim
        if p == 0 or self._nodes[p].size >= n:
            return None
        dtype = self.dtype
        forms, _ = self.point_forms(torch.zeros(1, n, dtype=dtype, device=self.device))
        with torch.no_grad():
            jac_t = self.propagate_forms(forms, None, stop=p).reshape(1 + n, -1)[1:]  # (n, m) = J^T
        Q, R = torch.linalg.qr(jac_t)
        diag = R.diagonal().abs()
        floor = 1e3 * torch.finfo(dtype).eps * diag.max().clamp_min(torch.finfo(dtype).tiny)
        if not bool(torch.isfinite(R).all()) or bool((diag <= floor).any()):
            return None
        return p, Q, R

    def point_forms(self, x: Tensor, basis=None) -> tuple[Tensor, int]:
        """Affine forms of the points ``x`` in input coordinates, or in those of ``basis``.

        ``x`` is a batch as :meth:`as_batch` takes it (cast to the network's dtype and
        device). Returns ``(forms, start)`` for :meth:`propagate_forms` ``(..., start=start)``:
        without ``basis``, ``[x; I]`` at the input (``n`` parameters); with ``basis =
        (p, Q, R)`` from :meth:`input_basis`, node ``p``'s values and ``d/ds`` (rows of
        ``R``, the same for every point) at node ``p`` (``m`` parameters).

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import Dense, PiecewiseLinear
        >>> net = CPWLNetwork.sequential((3,), [Dense(torch.ones(1, 3, dtype=torch.float64)), PiecewiseLinear.relu()])
        >>> forms, start = net.point_forms(torch.ones(2, 3, dtype=torch.float64), net.input_basis())
        >>> forms.shape, start, forms[0, 0].item()
        (torch.Size([2, 2, 1]), 1, 3.0)
        """
        x = self.as_batch(x)
        B, n = x.shape[0], self.input_dim
        if basis is None:
            eye = torch.eye(n, dtype=x.dtype, device=x.device).expand(B, n, n)
            return torch.cat([x.reshape(B, 1, n), eye], 1).reshape(B, 1 + n, *self.input_shape), 0
        if not (isinstance(basis, tuple) and len(basis) == 3 and isinstance(basis[2], Tensor)):
            raise InvalidParameterError(
                f"point_forms: 'basis' must be None or the (p, Q, R) that input_basis() returns; got {type(basis).__name__}.")
        p, _, R = basis
        with torch.no_grad():
            y = self.propagate_forms(x.reshape(B, 1, *self.input_shape), None, stop=p).reshape(B, 1, -1)
        # d y / d s_j = (J Q)[:, j] = R[j]
        forms = torch.cat([y, R.unsqueeze(0).expand(B, *R.shape)], 1)
        return forms.reshape(B, 1 + R.shape[0], *self._nodes[p].shape), p

    def propagate_forms(self, forms: Tensor, select, *, start: int = 0, stop: int | None = None) -> Tensor:
        """Push affine forms through the network with frozen activation choices.

        ``forms`` has shape ``(M, 1 + k, *input_shape)``: column 0 is the constant part,
        columns ``1..k`` the coefficients of ``k`` parameters. ``select(i, node, z)``
        receives the forms ``(M, 1 + k, U)`` of nonlinear node ``i``'s flattened input and
        returns the frozen choice per unit ``(M, U)`` (piece index, or argument index for
        max nodes). Returns the output forms ``(M, 1 + k, *output_shape)``.

        ``start`` (at most :meth:`input_chain`) makes ``forms`` those of node ``start``'s
        output, from which the rest of the network is run; ``stop`` returns the forms of
        node ``stop`` instead of the output's (with ``stop <= input_chain()``, ``select``
        is never called).

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import PiecewiseLinear
        >>> net = CPWLNetwork.sequential((1,), [PiecewiseLinear.relu()])
        >>> f = torch.tensor([[[0.0], [1.0]]], dtype=torch.float64)  # z = t
        >>> net.propagate_forms(f, lambda i, n, z: torch.ones(1, 1, dtype=torch.long))[0, :, 0]
        tensor([0., 1.], dtype=torch.float64)
        """
        M, cols = forms.shape[0], forms.shape[1]
        stop = self._output if stop is None else stop
        if not 0 <= start <= stop < len(self._nodes):
            raise InvalidParameterError(
                f"propagate_forms: needs 0 <= start <= stop < {len(self._nodes)} (the node count); "
                f"got start={start}, stop={stop}.")
        if start and start > self.input_chain():
            raise InvalidParameterError(
                f"propagate_forms: start={start} is past the input chain (node {self.input_chain()}); "
                "later nodes read earlier values.")
        if stop == start:
            return forms
        values: dict[int, Tensor] = {start: forms}
        for i, n in enumerate(self._nodes[start + 1:stop + 1], start=start + 1):
            args = [values[j] for j in n.inputs]
            op = n.op
            if op.kind == "linear":
                out = op.linear(*[a.reshape(M * cols, *a.shape[2:]) for a in args])
                out = out.reshape(M, cols, *out.shape[1:])
                off = op.offset
                if off is not None:
                    out = out.clone()
                    out[:, 0] = out[:, 0] + off
            else:
                z = args[0].reshape(M, cols, -1)
                choice = select(i, n, z).long()
                out = apply_frozen(op, z, choice).reshape(M, cols, *n.shape)
            values[i] = out
            if i == stop:
                return out
            for j in n.inputs:
                if self._last_use[j] <= i:
                    del values[j]
        return values[stop]

    def local_affine_map(self, x) -> tuple[Tensor, Tensor]:
        """The affine map ``f(y) = A y + c`` of the activation region containing each point.

        Returns ``A`` of shape ``(B, output_dim, input_dim)`` and ``c`` ``(B, output_dim)``
        (inputs and outputs flattened). At a point on a switching surface the map of the
        piece selected by the pattern convention is returned.

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import PiecewiseLinear
        >>> net = CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()])
        >>> A, c = net.local_affine_map(torch.tensor([[1.0, -1.0]], dtype=torch.float64))
        >>> A[0]
        tensor([[1., 0.],
                [0., 0.]], dtype=torch.float64)
        """
        x = self.as_batch(x)
        B, n0 = x.shape[0], self.input_dim
        # forward forms carry a column per input (per coordinate of the input basis, when
        # the input is read through fewer numbers: the basis costs about one point's
        # forms, so only batches use it); backward passes one per output
        basis = self.input_basis() if B > 1 else None
        if self.output_dim < (n0 if basis is None else basis[2].shape[0]):
            return self._local_affine_map_reverse(x)
        forms, start = self.point_forms(x.reshape(B, n0), basis)
        with torch.no_grad():
            out = self.propagate_forms(forms, lambda i, n, z: choice_at(n.op, z[:, 0]), start=start)
        out = out.reshape(B, forms.shape[1], -1)
        A = out[:, 1:].transpose(1, 2)
        if basis is not None:
            A = A @ basis[1].T  # from the basis's coordinates to the input's
        c = out[:, 0] - (A @ x.reshape(B, n0, 1)).squeeze(-1)
        return A, c

    def _local_affine_map_reverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``local_affine_map`` by one backward pass per output through the network with its
        pieces frozen at ``x`` (fewer outputs than inputs: the forward forms would carry a
        column per input)."""
        B, n0 = x.shape[0], self.input_dim
        xb = x.detach().reshape(B, 1, *self.input_shape).clone().requires_grad_(True)
        with torch.enable_grad():
            y = self.propagate_forms(xb, lambda i, n, z: choice_at(n.op, z[:, 0].detach())).reshape(B, -1)
            m = y.shape[1]
            rows = [torch.autograd.grad(y[:, o].sum(), xb, retain_graph=o < m - 1)[0].reshape(B, n0) for o in range(m)]
        A = torch.stack(rows, 1) if rows else x.new_zeros((B, 0, n0))
        c = y.detach() - (A @ x.reshape(B, n0, 1)).squeeze(-1)
        return A, c

    # ------------------------------------------------------------- analysis faces
    # The computations live in regionlab.regions; these methods reach the same code.

    def partition_segment(self, start, end, **kwargs):
        """Exact partition of the segment ``[start, end]``; see :func:`regionlab.partition_segment`.

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import PiecewiseLinear
        >>> net = CPWLNetwork.sequential((1,), [PiecewiseLinear.relu()])
        >>> net.partition_segment([-1.0], [1.0]).num_regions
        2
        """
        from ..regions.segment import partition_segment

        return partition_segment(self, start, end, **kwargs)

    def partition_path(self, points, **kwargs):
        """Exact partition of a polyline through ``points``; see :func:`regionlab.partition_path`.

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import PiecewiseLinear
        >>> net = CPWLNetwork.sequential((1,), [PiecewiseLinear.abs()])
        >>> net.partition_path([[-1.0], [1.0], [2.0]]).num_regions
        2
        """
        from ..regions.segment import partition_path

        return partition_path(self, points, **kwargs)

    def partition_plane(self, origin, u=None, v=None, bounds=None, **kwargs):
        """Exact partition of a planar slice; see :func:`regionlab.partition_plane`.

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import PiecewiseLinear
        >>> net = CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()])
        >>> net.partition_plane([0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-1, 1, -1, 1)).num_regions
        4
        """
        from ..regions.plane import partition_plane

        return partition_plane(self, origin, u, v, bounds, **kwargs)


def choice_at(op: Op, z: Tensor) -> Tensor:
    """Frozen choice ``(M, U)`` at pre-activation values ``z`` ``(M, U)`` (exact hits take the lower piece)."""
    if op.kind == "univariate":
        return (op.breakpoints.unsqueeze(0) < z.unsqueeze(-1)).sum(-1)
    vals = op.gather(z)
    return (vals == vals.amax(-1, keepdim=True)).int().argmax(-1)


def apply_frozen(op: Op, z: Tensor, choice: Tensor, *, inplace: bool = False) -> Tensor:
    """Apply a nonlinear op with frozen choices to forms ``z`` ``(M, C, U_in)`` -> ``(M, C, U_out)``.

    For univariate ops ``choice`` is the piece index (``>= 0``); for max ops the argument
    index. With ``inplace=True`` a univariate op may overwrite ``z``.
    """
    if isinstance(op, PiecewiseLinear):
        _, s, c = op.unit_tables(z.shape[2])
        if s.shape[1] == 2:
            # one breakpoint (ReLU family): blend the two pieces arithmetically
            w = choice.to(z.dtype)
            if bool((s[:, 0] == 0).all()) and bool((s[:, 1] == 1).all()):
                slope = w
            else:
                slope = (s[:, 1] - s[:, 0]) * w + s[:, 0]
            icpt = None if bool((c == 0).all()) else (c[:, 1] - c[:, 0]) * w + c[:, 0]
        else:
            units = torch.arange(z.shape[2], device=z.device).unsqueeze(0)
            choice = choice.long()
            slope = s[units, choice]  # (M, U)
            icpt = c[units, choice]
        out = z.mul_(slope.unsqueeze(1)) if inplace else z * slope.unsqueeze(1)
        if icpt is not None:
            out[:, 0] += icpt
        return out
    if isinstance(op, MaxOp):
        src = op.index[torch.arange(op.index.shape[0], device=z.device).unsqueeze(0), choice.long()]
        return z.gather(2, src.unsqueeze(1).expand(-1, z.shape[1], -1))
    raise InvalidParameterError(f"apply_frozen got an op of kind {op.kind!r}.")

