"""The configs' tests, and what they share."""


def flatten(node, prefix=''):
    """{'a.b.0.c': leaf, ...} for nested dicts and lists."""
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, (list, tuple)):
        items = enumerate(node)
    else:
        return {prefix: node}
    out = {}
    for key, value in items:
        out.update(flatten(value, f'{prefix}.{key}' if prefix else str(key)))
    return out
