"""Stand-ins for dbt's cross-database macros (``dbt.datediff`` ...) rendering DuckDB SQL, for sqlfluff."""

from __future__ import annotations


def datediff(first: str, second: str, datepart: str) -> str:
    return f"date_diff('{datepart}', {first}::timestamp, {second}::timestamp)"


def dateadd(datepart: str, interval: object, from_date: str) -> str:
    return f"({from_date} + cast({interval} as bigint) * interval 1 {datepart})"


def date_trunc(datepart: str, date: str) -> str:
    return f"date_trunc('{datepart}', {date})"


def concat(fields: list[str]) -> str:
    return " || ".join(fields)


def cast(field: str, type_: str) -> str:
    return f"cast({field} as {type_})"


def safe_cast(field: str, type_: str) -> str:
    return f"try_cast({field} as {type_})"


def hash(field: str) -> str:
    return f"md5(cast({field} as varchar))"


def length(expression: str) -> str:
    return f"length({expression})"


def right(string_text: str, length_expression: object) -> str:
    return f"right({string_text}, {length_expression})"


def split_part(string_text: str, delimiter_text: str, part_number: int) -> str:
    return f"split_part({string_text}, {delimiter_text}, {part_number})"


def position(substring_text: str, string_text: str) -> str:
    return f"position({substring_text} in {string_text})"


def string_literal(value: object) -> str:
    return f"'{value}'"


def generate_series(upper_bound: int) -> str:
    return f"select generate_series as generated_number from generate_series(1, {upper_bound})"


def type_bigint() -> str:
    return "bigint"


def type_int() -> str:
    return "integer"


def type_string() -> str:
    return "varchar"


def type_float() -> str:
    return "double"


globals()["except"] = lambda: "except"


def bool_or(expression: str) -> str:
    return f"bool_or({expression})"


def any_value(expression: str) -> str:
    return f"any_value({expression})"


def listagg(
    measure: str,
    delimiter_text: str = "','",
    order_by_clause: str | None = None,
    limit_num: int | None = None,
) -> str:
    order = f" {order_by_clause}" if order_by_clause else ""
    return f"string_agg({measure}, {delimiter_text}{order})"


def last_day(date: str, datepart: str) -> str:
    return f"last_day({date})"


def date(year: int, month: int, day: int) -> str:
    return f"make_date({year}, {month}, {day})"


def replace(field: str, old_chars: str, new_chars: str) -> str:
    return f"replace({field}, {old_chars}, {new_chars})"


def current_timestamp() -> str:
    return "now()"


def escape_single_quotes(expression: str) -> str:
    return expression.replace("'", "''")


def type_timestamp() -> str:
    return "timestamp"


def type_numeric() -> str:
    return "numeric(28, 6)"


def type_boolean() -> str:
    return "boolean"


globals()["intersect"] = lambda: "intersect"
