"""Python side of py_conversion_tests.erl: containers mutated while they are converted, and
shared parts."""


class Mutator:
    """Its repr changes the container it is in (during the conversion of that container)."""

    def __init__(self, container):
        self.container = container

    def __repr__(self):
        if isinstance(self.container, dict):
            for i in range(10):
                self.container[("added", i)] = i
        else:
            for i in range(10):
                self.container.add(("added", i))
        return "Mutator"


def mutating_dict():
    d = {}
    d["m"] = Mutator(d)
    d["x"] = 1
    return d


def mutating_set():
    s = set()
    s.add(Mutator(s))
    return s


def shared(levels):
    """x = [x, x], `levels` times: 2**levels leaves, `levels` + 1 distinct lists."""
    x = []
    for _ in range(levels):
        x = [x, x]
    return x
