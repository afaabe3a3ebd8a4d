"""Small flows for tests, written as the marketer's JSON."""

from engine.flow.fileformat import flow_from_data

LINKS = '<p><a href="https://shop.example/a">A</a> or <a href="https://shop.example/b">B</a></p>'


def flow(nodes, edges, name="test"):
    return flow_from_data({"format": "mailbranch.flow/1", "name": name, "nodes": nodes, "edges": edges})


def email(node_id, html=LINKS):
    return {"id": node_id, "type": "email", "subject": f"Subject {node_id}", "html": html}


def edge(source, target, port="next"):
    return {"from": source, "port": port, "to": target}
