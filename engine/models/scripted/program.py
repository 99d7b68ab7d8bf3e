"""A TorchScript method cut open at the calls of chosen submodules, so Python can run those calls.

A loaded TorchScript module refuses forward hooks, yet CAMs and metrics need to see (and, for
Grad-CAM, to replace) the output of an inner layer such as ``layer4.1``. :func:`compile_program`
takes the method's own graph, inlines the calls on the way to the chosen submodules (methods of
the module itself and of their ancestors), and cuts the graph at each call of a chosen submodule's
``forward``. What lies between two such calls becomes a compiled TorchScript function of its own;
the calls themselves are left to Python (:meth:`Program.run`), which runs them through the
wrapper layers that carry the hooks. Every operation is still the archive's own compiled code,
in the same order: only the hand-over points between the pieces are new.

Values that are cheap and pure to re-read (constants, attributes reached from ``self``) are
re-created inside each piece instead of being passed between pieces.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from engine.models.spec import ModelError

__all__ = ["Program", "compile_program", "script_submodule"]

CallChild = Callable[[str, tuple], Any]


@dataclass(frozen=True)
class _Segment:
    function: Any  # a compiled torch._C function: (self, *inputs) -> outputs
    inputs: tuple[int, ...]  # value ids read from the environment
    outputs: tuple[int, ...]  # value ids written to it


# Where a value comes from at run time: ("env", value id), ("constant", value) or
# ("attribute", path from self). No torch._C.Value is kept: they do not keep their graph alive.
_Ref = tuple[str, Any]


@dataclass(frozen=True)
class _Call:
    path: str  # the submodule, relative to the program's module
    args: tuple[_Ref, ...]
    output: int


@dataclass(frozen=True)
class Program:
    """One method of one script module, as compiled pieces and Python-run submodule calls."""

    inputs: tuple[int, ...]
    steps: tuple[_Segment | _Call, ...]
    result: _Ref

    def run(self, module: torch.jit.ScriptModule, call_child: CallChild, args: Sequence[Any]) -> Any:
        """Run the method of ``module`` on ``args``; ``call_child(path, args)`` runs each cut call."""
        env: dict[int, Any] = dict(zip(self.inputs, args, strict=True))
        for step in self.steps:
            if isinstance(step, _Call):
                env[step.output] = call_child(step.path, tuple(_resolve(r, env, module) for r in step.args))
                continue
            result = step.function(module._c, *(env[u] for u in step.inputs))
            env.update(zip(step.outputs, result if len(step.outputs) > 1 else (result,), strict=False))
        return _resolve(self.result, env, module)


def compile_program(module: torch.jit.ScriptModule, active: Iterable[str]) -> Program:
    """``module.forward`` cut at every call of ``forward`` on a submodule whose path is in ``active``.

    ``active`` holds paths relative to ``module`` and, with each, all its ancestors.
    """
    active = frozenset(active)
    graph = module.forward.graph.copy()
    self_id = next(iter(graph.inputs())).unique()
    _inline(graph, module, active, self_id)
    taps = {}
    for node in graph.findAllNodes("prim::CallMethod", True):
        path = _receiver_path(node.inputsAt(0), self_id)
        if path in active and node.s("name") == "forward":
            if node.owningBlock().owningNode() is not None:
                raise ModelError(
                    f"the TorchScript {module.original_name} calls its layer {path!r} inside an if or a "
                    "loop, where KD Lens cannot watch it; pick a layer that its forward calls directly "
                    "(a whole stage, e.g. the parent of this one)"
                )
            taps[node.output().unique()] = path  # wrappers are not stable; value ids are
    nodes = list(graph.nodes())
    groups: list[list[torch._C.Node] | torch._C.Node] = [[]]
    for node in nodes:
        if node.kind() == "prim::CallMethod" and node.output().unique() in taps:
            groups += [node, []]
        elif not _floating(node, self_id):
            groups[-1].append(node)
    used_after = _uses_after(groups, graph)
    steps: list[_Segment | _Call] = []
    for index, group in enumerate(groups):
        if isinstance(group, list):
            steps.append(_segment(group, used_after[index], next(iter(graph.inputs())), self_id, index))
        else:
            args = tuple(_ref(value, self_id) for value in list(group.inputs())[1:])
            steps.append(_Call(taps[group.output().unique()], args, group.output().unique()))
    inputs = tuple(value.unique() for value in list(graph.inputs())[1:])
    return Program(inputs, tuple(steps), _ref(graph.return_node().inputsAt(0), self_id))


def script_submodule(module: torch.jit.ScriptModule, path: str) -> torch.jit.ScriptModule:
    """The submodule at a dotted ``path`` ("" is ``module``); ScriptModules lack get_submodule."""
    for name in filter(None, path.split(".")):
        module = getattr(module, name)
    return module


def _receiver_path(value: torch._C.Value, self_id: int) -> str | None:
    """The dotted path from ``self`` to a module value reached through attribute reads, else None."""
    parts = []
    while value.unique() != self_id:
        node = value.node()
        if node.kind() != "prim::GetAttr":
            return None
        parts.append(node.s("name"))
        value = node.input()
    return ".".join(reversed(parts))


def _floating(node: torch._C.Node, self_id: int) -> bool:
    """A constant or an attribute read from ``self``: re-created wherever it is needed."""
    if node.kind() == "prim::Constant":
        return True
    return node.kind() == "prim::GetAttr" and _receiver_path(node.output(), self_id) is not None


def _inline(graph: torch._C.Graph, module: torch.jit.ScriptModule, active: frozenset[str], self_id: int):
    """Inline every method call on ``self`` and on the way to an active submodule, until none is left."""
    while True:
        for node in graph.findAllNodes("prim::CallMethod", True):
            path = _receiver_path(node.inputsAt(0), self_id)
            if path is None or (path in active and node.s("name") == "forward"):
                continue
            if path == "" or any(a == path or a.startswith(path + ".") for a in active):
                owner = script_submodule(module, path)
                callee = getattr(owner, node.s("name")).graph
                with graph.insert_point_guard(node):
                    outputs = graph.insertGraph(callee, list(node.inputs()))
                for old, new in zip(node.outputs(), outputs, strict=True):
                    old.replaceAllUsesWith(new)
                node.destroy()
                break
        else:
            return


def _free_values(node: torch._C.Node) -> list[torch._C.Value]:
    """Every value ``node`` reads, including those read inside its blocks from outside them."""
    used = list(node.inputs())
    for block in node.blocks():
        defined = {value.unique() for value in block.inputs()}
        for inner in block.nodes():
            used += [v for v in _free_values(inner) if v.unique() not in defined]
            defined.update(value.unique() for value in inner.outputs())
        used += [v for v in block.outputs() if v.unique() not in defined]
    return used


def _uses_after(groups: list, graph: torch._C.Graph) -> list[set[int]]:
    """For each group, the ids of the values read by any later group or by the return."""
    reads = [
        {v.unique() for node in group for v in _free_values(node)}
        if isinstance(group, list)
        else {v.unique() for v in group.inputs()}
        for group in groups
    ]
    later: set[int] = {v.unique() for v in graph.return_node().inputs()}
    result = []
    for group_reads in reversed(reads):
        result.append(set(later))
        later |= group_reads
    return result[::-1]


def _segment(nodes, used_after: set[int], self_value, self_id: int, index: int) -> _Segment:
    """Compile ``nodes`` into a function of the values they read from earlier pieces."""
    graph = torch._C.Graph()
    new_self = graph.addInput("self")
    new_self.setType(self_value.type())
    mapped: dict[int, torch._C.Value] = {self_id: new_self}
    inputs: list[int] = []

    def bring(value: torch._C.Value) -> torch._C.Value:
        if value.unique() in mapped:
            return mapped[value.unique()]
        node = value.node()
        if _floating(node, self_id):
            clone = graph.createClone(node, lambda v: bring(v))
            graph.insertNode(clone)
            mapped[value.unique()] = clone.output()
        else:
            if value.type().kind() == "ClassType":
                raise ModelError(
                    "this TorchScript model passes a module object between the layers KD Lens watches; "
                    "pick a different layer to watch (e.g. a whole stage)"
                )
            new_input = graph.addInput()
            new_input.setType(value.type())
            mapped[value.unique()] = new_input
            inputs.append(value.unique())
        return mapped[value.unique()]

    outputs = []
    for node in nodes:
        for value in _free_values(node):
            bring(value)
        clone = graph.createClone(node, lambda v: mapped[v.unique()])
        graph.insertNode(clone)
        for old, new in zip(node.outputs(), clone.outputs(), strict=True):
            mapped[old.unique()] = new
            if old.unique() in used_after:
                outputs.append(old.unique())
    for unique in outputs:
        graph.registerOutput(mapped[unique])
    if not outputs:
        graph.registerOutput(graph.insertConstant(0))
    elif len(outputs) > 1:
        graph.makeMultiOutputIntoTuple()
    function = torch._C._create_function_from_graph(f"kdlens_piece_{index}", graph)
    return _Segment(function, tuple(inputs), tuple(outputs))


def _ref(value: torch._C.Value, self_id: int) -> _Ref:
    node = value.node()
    if node.kind() == "prim::Constant":
        return ("constant", value.toIValue())
    path = _receiver_path(value, self_id) if node.kind() == "prim::GetAttr" else None
    return ("env", value.unique()) if path is None else ("attribute", path)


def _resolve(ref: _Ref, env: dict[int, Any], module: torch.jit.ScriptModule) -> Any:
    kind, what = ref
    if kind == "constant":
        return what
    return script_submodule(module, what) if kind == "attribute" else env[what]
