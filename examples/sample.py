"""A small file for the llamafile-ls demo: the edit rewrites one function."""

import json


def load_settings(path):
    f = open(path)
    data = json.load(f)
    f.close()
    return data


def greet(name):
    print("Hello, " + name + "!")


if __name__ == "__main__":
    greet("world")
