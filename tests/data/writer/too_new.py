# writer: target=3.8
# slot: param Node.clone depth -> int
# slot: return Node.clone -> Self
# skip: return Node.clone too-new-for-target
class Node:
    def clone(self, depth):
        return self
# output:
class Node:
    def clone(self, depth: int):
        return self
