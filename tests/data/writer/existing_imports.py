# slot: param mean values -> numpy.ndarray
# slot: return mean -> float
# slot: param save user -> User
# slot: param save when -> datetime.datetime
# slot: param save session -> requests.Session
# slot: return save -> collections.OrderedDict[str, int]
# slot: param walk tree -> xml.etree.ElementTree.Element
# skip: param save session unresolvable-name
import collections
import datetime

import numpy as np

from .models import User
from xml.etree import ElementTree as ET


def mean(values):
    return float(np.mean(values))


def save(user, when, session):
    return collections.OrderedDict()


def walk(tree):
    pass
# output:
import collections
import datetime

import numpy as np

from .models import User
from xml.etree import ElementTree as ET


def mean(values: np.ndarray) -> float:
    return float(np.mean(values))


def save(user: User, when: datetime.datetime, session) -> collections.OrderedDict[str, int]:
    return collections.OrderedDict()


def walk(tree: ET.Element):
    pass
