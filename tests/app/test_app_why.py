"""AppTest: the landing page (Why gradients vanish)."""

from lstmlab.views import limits, settings


def test_landing_is_default_and_shows_powers(app):
    at = app().run()
    assert not at.exception
    assert at.title[0].value == "Why gradients vanish"
    metrics = [m.value for m in at.metric]
    assert metrics[0] == "2.66e-05"  # 0.9^100
    assert "13780.6" in metrics  # 1.1^100
    assert len(at.get("vega_lite_chart")) == 1
    assert len(at.latex) >= 4
    assert at.query_params["w"] == "0.9" and at.query_params["T"] == "100"


def test_slider_changes_result_and_url(app):
    at = app().run()
    spec_before = at.get("vega_lite_chart")[0].proto.spec
    at.slider(key="why.w").set_value(1.1).run()
    assert not at.exception
    assert at.metric[0].value == "13780.6"
    assert at.query_params["w"] == "1.1"
    at.slider(key="why.T").set_value(10).run()
    assert at.metric[0].label == "1.1^10"
    assert at.get("vega_lite_chart")[0].proto.spec != spec_before


def test_url_reproduces_settings(app):
    at = app(w="1.05", T="200").run()
    assert not at.exception and not at.warning
    assert at.slider(key="why.w").value == 1.05
    assert at.slider(key="why.T").value == 200
    assert at.metric[0].label == "1.05^200"


def test_bad_query_params_warn_and_fall_back(app):
    at = app(w="seven", T="99999", bogus="1").run()
    assert not at.exception
    msgs = " ".join(w.value for w in at.warning)
    assert "`w`" in msgs and "`T`" in msgs and "`bogus`" in msgs
    assert at.slider(key="why.w").value == 0.9
    assert at.slider(key="why.T").value == 100


def test_see_it_in_a_real_network_opens_error_flow_with_matching_settings(app):
    at = app(w="1.1", T="30").run()
    at.button[0].click().run(timeout=120)
    assert not at.exception
    assert at.title[0].value == "Error flow"
    assert at.query_params["ws"] == "1.1" and at.query_params["T"] == "30"
    assert at.query_params["cells"] == "rnn,lstm"
    assert at.slider(key="flow.ws").value == 1.1
    assert len(at.get("vega_lite_chart")) >= 3


def test_link_caps_settings_to_the_interactive_limits():
    q = settings.flow_link(1.5, 1000)
    assert q["T"] == str(limits.SEQ_LEN_MAX) and q["ws"] == "1.5" and q["cells"] == "rnn,lstm"
    values, warnings = settings.parse_params("flow", q)
    assert not warnings and values["T"] == limits.SEQ_LEN_MAX


def test_an_unknown_parameter_name_cannot_put_links_or_images_on_the_page(app):
    name = "x`![px](http://evil.example/p.png)[click here](http://evil.example)"
    at = app(**{name: "1"}).run()
    assert not at.exception
    warning = at.warning[0].value
    assert warning.count("`") == 2  # the name stays inside one code span, where nothing is rendered
    assert warning == ("Ignored unknown URL parameter "
                       "`x'![px](http://evil.example/p.png)[click here](http://evil.example)`.")


def test_a_bad_value_is_echoed_escaped(app):
    at = app(w="[click here](http://evil.example)").run()
    assert not at.exception
    warning = at.warning[0].value.replace("\u2060", "")  # the word joiners that keep a URL from being linked
    assert r"\[click here\]\(http\:" in warning and "[click here](" not in warning
