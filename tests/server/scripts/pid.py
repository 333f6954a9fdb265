# Answers with the worker's process id: shows which worker served a request.
import os


def init():
    pass


def run(data):
    return {"pid": os.getpid()}
