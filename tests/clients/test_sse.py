from papertrans.clients.client import SseParser


def test_sse_parser() -> None:
    parser = SseParser()
    lines = [": keep-alive", "event: segment", "id: 3", 'data: {"done": 2,', 'data: "total": 5}', "",
             "data: plain", "", ""]
    events = [e for e in (parser.feed(line) for line in lines) if e is not None]
    assert events == [{"done": 2, "total": 5, "event": "segment", "_id": "3"}, {"data": "plain"}]
