"""A small dev set of independently written buggy solutions (written from the task prompts, not
edited from the references). ``#<<`` marks the line the bug was written on (the expected fix line);
the marker is stripped before use. ``kind="algorithm"``: a wrong approach, no single-site fix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DevCase:
    dataset: str
    task_id: str
    marked: str
    kind: str

    @property
    def candidate(self) -> str:
        return "\n".join(ln.split("  #<<")[0] for ln in self.marked.strip("\n").splitlines()) + "\n"

    @property
    def fix_lines(self) -> list[int]:
        return [i for i, ln in enumerate(self.marked.strip("\n").splitlines(), 1) if "#<<" in ln]


CASES = [
    DevCase(
        "humaneval",
        "HumanEval/3",
        """
def below_zero(operations):
    balance = 0
    for op in operations:
        balance += op
        if balance <= 0:  #<<
            return True
    return False
""",
        "wrong_comparison",
    ),
    DevCase(
        "humaneval",
        "HumanEval/5",
        """
def intersperse(numbers, delimeter):
    out = []
    for i, n in enumerate(numbers):
        out.append(n)
        if i < len(numbers):  #<<
            out.append(delimeter)
    return out
""",
        "off_by_one",
    ),
    DevCase(
        "humaneval",
        "HumanEval/12",
        """
def longest(strings):
    if not strings:
        return None
    best = strings[0]
    for s in strings:
        if len(s) >= len(best):  #<<
            best = s
    return best
""",
        "wrong_comparison",
    ),
    DevCase(
        "humaneval",
        "HumanEval/16",
        """
def count_distinct_characters(string):
    return len(set(string.title()))  #<<
""",
        "wrong_string_method",
    ),
    DevCase(
        "humaneval",
        "HumanEval/26",
        """
def remove_duplicates(numbers):
    counts = {}
    for n in numbers:
        counts[n] = counts.get(n, 1) + 1  #<<
    return [n for n in numbers if counts[n] == 1]
""",
        "wrong_initial_value",
    ),
    DevCase(
        "humaneval",
        "HumanEval/43",
        """
def pairs_sum_to_zero(l):
    for i in range(len(l)):
        for j in range(i, len(l)):  #<<
            if l[i] + l[j] == 0:
                return True
    return False
""",
        "off_by_one",
    ),
    DevCase(
        "humaneval",
        "HumanEval/48",
        """
def is_palindrome(text):
    n = len(text)
    for i in range(n // 2):
        if text[i] != text[-i]:  #<<
            return False
    return True
""",
        "off_by_one",
    ),
    DevCase(
        "humaneval",
        "HumanEval/55",
        """
def fib(n):
    a, b = 0, 1
    for _ in range(n - 1):  #<<
        a, b = b, a + b
    return a
""",
        "off_by_one",
    ),
    DevCase(
        "humaneval",
        "HumanEval/11",
        """
def string_xor(a, b):
    result = ''
    for x, y in zip(a, b):
        if x != y:
            result += '1'
        else:
            result += '1'  #<<
    return result
""",
        "wrong_constant",
    ),
    DevCase(
        "humaneval",
        "HumanEval/63",
        """
def fibfib(n):
    if n < 2:
        return 0
    a, b, c = 0, 0, 1
    for _ in range(n - 2):
        a, b, c = b, c, a + b + c
    return b  #<<
""",
        "wrong_return",
    ),
    DevCase(
        "humaneval",
        "HumanEval/67",
        """
def fruit_distribution(s, n):
    total = 0
    for word in s.split(' '):
        if word.isdigit():
            total += int(word)
    return total - n  #<<
""",
        "swapped_arguments",
    ),
    DevCase(
        "humaneval",
        "HumanEval/72",
        """
def will_it_fly(q, w):
    if sum(q) >= w:  #<<
        return False
    return q == q[::-1]
""",
        "wrong_comparison",
    ),
    DevCase(
        "humaneval",
        "HumanEval/80",
        """
def is_happy(s):
    if len(s) < 3:
        return False
    for i in range(len(s) - 2):
        if s[i] == s[i + 1] or s[i + 1] == s[i + 2]:  #<<
            return False
    return True
""",
        "missing_edge_case",
    ),
    DevCase(
        "mbpp",
        "Mbpp/17",
        """
def square_perimeter(a):
    return 4 + a  #<<
""",
        "wrong_operator",
    ),
    DevCase(
        "mbpp",
        "Mbpp/11",
        """
def remove_Occ(s, ch):
    first = s.find(ch)
    last = s.find(ch)  #<<
    if first == -1:
        return s
    return s[:first] + s[first + 1:last] + s[last + 1:]
""",
        "wrong_string_method",
    ),
    DevCase(
        "mbpp",
        "Mbpp/23",
        """
def maximum_Sum(list1):
    best = 0
    for row in list1:
        total = sum(row)
        if total < best:  #<<
            best = total
    return best
""",
        "wrong_comparison",
    ),
    DevCase(
        "mbpp",
        "Mbpp/35",
        """
def find_rect_num(n):
    return n * (n - 1)  #<<
""",
        "wrong_operator",
    ),
    DevCase(
        "mbpp",
        "Mbpp/38",
        """
def div_even_odd(list1):
    first_even = next((x for x in list1 if x % 2 == 0), -1)
    first_odd = next((x for x in list1 if x % 2 == 1), -1)
    return first_odd / first_even  #<<
""",
        "swapped_arguments",
    ),
    DevCase(
        "mbpp",
        "Mbpp/32",
        """
def max_Prime_Factors(n):
    largest = 1
    d = 2
    while d * d <= n:
        while n % d == 0:
            largest = d
            n //= d
        d += 1
    if n > 2:  #<<
        largest = n
    return largest
""",
        "off_by_one",
    ),
    DevCase(
        "mbpp",
        "Mbpp/50",
        """
def min_length_list(input_list):
    best = input_list[0]
    for lst in input_list:
        if len(lst) < len(best):
            best = lst
    return (len(lst), best)  #<<
""",
        "wrong_variable",
    ),
    DevCase(
        "humaneval",
        "HumanEval/35",
        """
def max_element(l):
    best = l[0]
    for x in l[1:]:
        if x > best:
            best = x
        return best  #<<
    return best
""",
        "misplaced_statement",
    ),
    DevCase(
        "humaneval",
        "HumanEval/3",
        """
def below_zero(operations):
    return operations[0] < 0 if operations else False
""",
        "algorithm",
    ),
    DevCase(
        "humaneval",
        "HumanEval/13",
        """
def greatest_common_divisor(a, b):
    while b:
        a, b = b, a // b  #<<
    return a
""",
        "wrong_operator",
    ),
    DevCase(
        "humaneval",
        "HumanEval/23",
        """
def strlen(string):
    count = 1  #<<
    for _ in string:
        count += 1
    return count
""",
        "wrong_initial_value",
    ),
    DevCase(
        "humaneval",
        "HumanEval/27",
        """
def flip_case(string):
    out = []
    for ch in string:
        if ch.isupper():
            out.append(ch.upper())  #<<
        else:
            out.append(ch.upper())
    return ''.join(out)
""",
        "wrong_string_method",
    ),
    DevCase(
        "humaneval",
        "HumanEval/30",
        """
def get_positive(l):
    return [x for x in l if x >= 0]  #<<
""",
        "wrong_comparison",
    ),
    DevCase(
        "humaneval",
        "HumanEval/34",
        """
def unique(l):
    return list(dict.fromkeys(l))  #<<
""",
        "missing_sort",
    ),
    DevCase(
        "mbpp",
        "Mbpp/14",
        """
def find_Volume(l, b, h):
    area = l * b
    return area * h / 3  #<<
""",
        "wrong_constant",
    ),
]
