# writer: bom
# slot: param greet name -> str
# slot: return greet -> str
# -*- coding: utf-8 -*-
def greet(name):
    return "héllo " + name
# output:
# -*- coding: utf-8 -*-
def greet(name: str) -> str:
    return "héllo " + name
