# An entry script that forgot run().
def init():
    pass
