"""Template components from columns: valid request JSON, per-row rejects, spec mismatches."""

from __future__ import annotations

from datetime import UTC, date, datetime

import orjson
import pyarrow as pa
import pytest

from mmapi.audience import TemplateRenderer, check_template_parameters
from mmapi.errors import TemplateMismatchError
from mmapi.models import Component
from mmapi.templates import TemplateInfo

WINBACK = {
    "body": [
        {"type": "text", "column": "first_name"},
        {"type": "currency", "column": "amount", "currency": "EUR"},
        {"type": "date_time", "column": "until"},
    ]
}


def _components(text: str) -> list[Component]:
    return [Component.model_validate(item) for item in orjson.loads(text)]


def test_render_spring_sale_components_validate_with_the_request_model(make_spec, templates):
    renderer = TemplateRenderer(make_spec(), templates["spring_sale"])
    batch = pa.table(
        {
            "image_url": ["https://shop.example.com/a.jpg", "https://shop.example.com/b.jpg"],
            "first_name": ['Ana "the" \\ Bé 😀', "  Ben  "],
            "coupon": ["SPRING-1", "SPRING-2"],
        }
    )

    rendered = renderer.render(batch)

    assert rendered.reason.null_count == 2
    header, body, button = _components(rendered.components[0].as_py())
    assert header.parameters[0].image.link == "https://shop.example.com/a.jpg"
    assert [p.text for p in body.parameters] == ['Ana "the" \\ Bé 😀', "20%"]
    assert (button.sub_type, button.index, button.parameters[0].text) == ("url", 0, "SPRING-1")
    assert _components(rendered.components[1].as_py())[1].parameters[0].text == "Ben"


def test_render_currency_and_date_time(make_spec, templates):
    spec = make_spec(template={"name": "winback_offer", "language": "en"}, parameters=WINBACK)
    renderer = TemplateRenderer(spec, templates["winback_offer"])
    batch = pa.table(
        {
            "first_name": ["Ana", "Ben", "Cy"],
            "amount": ["10.5", " 7 ", "0.125"],
            "until": pa.array([date(2026, 5, 31)] * 3),
        }
    )

    rendered = renderer.render(batch)

    body = _components(rendered.components[0].as_py())[0]
    currency, when = body.parameters[1].currency, body.parameters[2].date_time
    assert (currency.amount_1000, currency.code, currency.fallback_value) == (
        10500,
        "EUR",
        "10.50 EUR",
    )
    assert when.fallback_value == "2026-05-31"
    assert _components(rendered.components[2].as_py())[0].parameters[1].currency.amount_1000 == 125


def test_render_timestamp_and_numeric_columns(make_spec, templates):
    spec = make_spec(template={"name": "winback_offer", "language": "en"}, parameters=WINBACK)
    batch = pa.table(
        {
            "first_name": pa.array([42]),
            "amount": pa.array([12.0]),
            "until": pa.array([datetime(2026, 5, 31, 18, 30, tzinfo=UTC)]),
        }
    )

    rendered = TemplateRenderer(spec, templates["winback_offer"]).render(batch)

    body = _components(rendered.components[0].as_py())[0]
    assert body.parameters[0].text == "42"
    assert body.parameters[2].date_time.fallback_value == "2026-05-31 18:30"


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("first_name", None, "param_null"),
        ("first_name", "   ", "param_empty"),
        ("first_name", "x" * 1025, "param_too_long"),
        ("first_name", "Ana\nMaria", "param_bad_text"),
        ("first_name", "Ana\tB", "param_bad_text"),
        ("first_name", "Ana      B", "param_bad_text"),
        ("first_name", "Ana\x07", "param_bad_text"),
        ("image_url", "ftp://shop.example.com/a.jpg", "param_bad_url"),
        ("image_url", "not a url", "param_bad_url"),
        ("image_url", "https://", "param_bad_url"),
        ("image_url", None, "param_null"),
        ("coupon", "SPRING 10", "param_bad_text"),
        ("coupon", None, "param_null"),
    ],
)
def test_render_rejects_bad_values_naming_the_column(make_spec, templates, column, value, reason):
    row = {"image_url": "https://x.example/a.jpg", "first_name": "Ana", "coupon": "C1"}
    row[column] = value
    batch = pa.table({k: pa.array([v], pa.string()) for k, v in row.items()})

    rendered = TemplateRenderer(make_spec(), templates["spring_sale"]).render(batch)

    assert rendered.components.to_pylist() == [None]
    assert rendered.column.to_pylist() == [column]
    assert rendered.reason.to_pylist() == [reason]
    assert column in rendered.detail[0].as_py()


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        ("ten", "param_not_numeric"),
        ("1,50", "param_not_numeric"),
        ("-5", "param_bad_amount"),
        ("", "param_empty"),
        (None, "param_null"),
        ("1e99", "param_not_numeric"),
    ],
)
def test_render_rejects_bad_amounts(make_spec, templates, amount, reason):
    spec = make_spec(template={"name": "winback_offer", "language": "en"}, parameters=WINBACK)
    batch = pa.table(
        {"first_name": ["Ana"], "amount": pa.array([amount], pa.string()), "until": ["May 31"]}
    )

    rendered = TemplateRenderer(spec, templates["winback_offer"]).render(batch)

    assert (rendered.column[0].as_py(), rendered.reason[0].as_py()) == ("amount", reason)


def test_render_named_parameters(make_spec):
    template = TemplateInfo(
        name="named",
        language="en",
        category="MARKETING",
        components=[{"type": "BODY", "text": "Hi {{first_name}}, use {{code}}"}],
    )
    spec = make_spec(
        template={"name": "named", "language": "en"},
        parameters={
            "body": [
                {"type": "text", "column": "name", "parameter_name": "first_name"},
                {"type": "text", "value": "X1", "parameter_name": "code"},
            ]
        },
    )

    rendered = TemplateRenderer(spec, template).render(pa.table({"name": ["Ana"]}))

    body = _components(rendered.components[0].as_py())[0]
    assert [(p.parameter_name, p.text) for p in body.parameters] == [
        ("first_name", "Ana"),
        ("code", "X1"),
    ]


def test_render_template_without_parameters_sends_an_empty_list(make_spec):
    template = TemplateInfo(
        name="plain",
        language="en",
        category="MARKETING",
        components=[{"type": "BODY", "text": "Spring is here"}],
    )
    spec = make_spec(template={"name": "plain", "language": "en"}, parameters={})

    rendered = TemplateRenderer(spec, template).render(pa.table({"phone": ["1", "2"]}))

    assert rendered.components.to_pylist() == ["[]", "[]"]


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        (
            {
                "header": {"type": "image", "column": "image_url"},
                "body": [{"type": "text", "column": "first_name"}],
                "buttons": [{"index": 0, "type": "text", "column": "coupon"}],
            },
            "the template has 2 parameters, the spec gives 1",
        ),
        (
            {
                "header": {"type": "video", "column": "image_url"},
                "body": [{"type": "text", "column": "first_name"}, {"type": "text", "value": "1"}],
                "buttons": [{"index": 0, "type": "text", "column": "coupon"}],
            },
            "header kind mismatch: the template's header is IMAGE, the spec gives video",
        ),
        (
            {
                "header": {"type": "image", "column": "image_url"},
                "body": [{"type": "text", "column": "first_name"}, {"type": "text", "value": "1"}],
            },
            "button 0 (url) needs a parameter",
        ),
        (
            {
                "body": [{"type": "text", "column": "first_name"}, {"type": "text", "value": "1"}],
                "buttons": [{"index": 0, "type": "text", "column": "coupon"}],
            },
            "the template's header is IMAGE, the spec gives none",
        ),
        (
            {
                "header": {"type": "image", "column": "image_url"},
                "body": [
                    {"type": "text", "column": "first_name"},
                    {"type": "image", "column": "x"},
                ],
                "buttons": [
                    {"index": 0, "type": "text", "column": "coupon"},
                    {"index": 3, "type": "text", "column": "coupon"},
                ],
            },
            "a image cannot go in the body; button 3: the template has no such button",
        ),
        (
            {
                "header": {"type": "image", "column": "image_url"},
                "body": [
                    {"type": "text", "column": "first_name"},
                    {"type": "text", "value": "x" * 2000},
                ],
                "buttons": [{"index": 0, "type": "text", "column": "coupon"}],
            },
            "the constant value has 2000 characters",
        ),
    ],
)
def test_template_mismatch_raises_one_clear_error(make_spec, templates, parameters, message):
    with pytest.raises(TemplateMismatchError, match=r"spring_sale|constant") as raised:
        check_template_parameters(make_spec(parameters=parameters), templates["spring_sale"])

    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_template_mismatch_names_missing_columns(make_spec, templates):
    schema = pa.schema([("phone", pa.string()), ("first_name", pa.string())])

    with pytest.raises(TemplateMismatchError) as raised:
        check_template_parameters(make_spec(), templates["spring_sale"], schema)

    assert "column 'image_url' is not in the segment" in str(raised.value)
    assert "column 'coupon' is not in the segment" in str(raised.value)


def test_template_mismatch_other_template_and_static_url(make_spec, templates):
    spec = make_spec(
        template={"name": "winback_offer", "language": "en"},
        parameters={
            "body": WINBACK["body"],
            "buttons": [{"index": 0, "type": "text", "value": "x"}],
        },
    )

    with pytest.raises(TemplateMismatchError) as raised:
        check_template_parameters(spec, templates["spring_sale"])

    assert "the template is spring_sale/en" in str(raised.value)
    with pytest.raises(TemplateMismatchError, match="the template's URL is fixed"):
        check_template_parameters(spec, templates["winback_offer"])


def test_template_mismatch_wrong_column_type(make_spec, templates):
    spec = make_spec(template={"name": "winback_offer", "language": "en"}, parameters=WINBACK)
    schema = pa.schema(
        [("first_name", pa.list_(pa.string())), ("amount", pa.bool_()), ("until", pa.date32())]
    )

    with pytest.raises(TemplateMismatchError) as raised:
        check_template_parameters(spec, templates["winback_offer"], schema)

    assert "'first_name' has type list<item: string>, not a scalar" in str(raised.value)
    assert "'amount' has type bool, not a number" in str(raised.value)


def test_render_checks_repeated_values_once_with_the_same_results(make_spec, templates):
    names = ["Ana", None, "", "Ben\n", 'Zoë "Z"', "x" * 1100]
    rows = 3000
    batch = pa.table(
        {
            "image_url": [["https://x.example/a.jpg", "ftp://x", None][i % 3] for i in range(rows)],
            "first_name": [names[i % len(names)] for i in range(rows)],
            "coupon": [f"C{i}" for i in range(rows)],  # all distinct: checked row by row
        }
    )
    renderer = TemplateRenderer(make_spec(), templates["spring_sale"])

    whole = renderer.render(batch)
    pieces = [renderer.render(batch.slice(start, 500)) for start in range(0, rows, 500)]

    for field in ("components", "column", "reason", "detail"):
        expected = pa.concat_arrays([getattr(piece, field) for piece in pieces])
        assert getattr(whole, field).to_pylist() == expected.to_pylist(), field
    assert 0 < whole.reason.null_count < rows
