"""Small flows for tests, written as the marketer's JSON."""

from engine.flow.fileformat import flow_from_data

LINKS = '<p><a href="https://shop.example/a">A</a> or <a href="https://shop.example/b">B</a></p>'


def flow(nodes, edges, name="test"):
    return flow_from_data({"format": "mailbranch.flow/1", "name": name, "nodes": nodes, "edges": edges})


def email(node_id, html=LINKS):
    return {"id": node_id, "type": "email", "subject": f"Subject {node_id}", "html": html}


def edge(source, target, port="next"):
    return {"from": source, "port": port, "to": target}


#: The flow file of SEMANTICS section 1, as written there (flow A).
SEMANTICS_EXAMPLE: dict = {
    "format": "mailbranch.flow/1",
    "name": "Spring offer",
    "nodes": [
        {"id": "start", "type": "start"},
        {"id": "e1", "type": "email", "subject": "Hi {{ first_name }}",
         "html": "<p>Our offer: <a href=\"https://shop.example/offer\">see it</a></p>"},
        {"id": "c1", "type": "condition", "event": "open", "email": "e1"},
        {"id": "e2", "type": "email", "subject": "Thanks", "html": "<p>Coupon inside</p>"},
        {"id": "w1", "type": "wait", "duration": "3d"},
        {"id": "e3", "type": "email", "subject": "Did you miss it?", "html": "<p>...</p>"},
        {"id": "end1", "type": "end"},
        {"id": "end2", "type": "end"},
    ],
    "edges": [
        {"from": "start", "to": "e1"},
        {"from": "e1", "to": "c1"},
        {"from": "c1", "port": "yes", "to": "e2"},
        {"from": "e2", "to": "end1"},
        {"from": "c1", "port": "no", "to": "w1"},
        {"from": "w1", "to": "e3"},
        {"from": "e3", "to": "end2"},
    ],
}
