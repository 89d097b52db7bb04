"""The controller: turns a repository revision into planned, applied and recorded stacks.

It is the only layer that combines git, the store and the engines. The CLI calls it for
one-shot operations; ``truenorth serve`` drives it continuously.
"""
