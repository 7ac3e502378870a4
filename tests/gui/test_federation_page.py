"""The Federation page of the Train tab: the form builds the jobs' settings and the rounds
fill the table as events arrive (the jobs themselves: tests/core/test_federated.py)."""
from __future__ import annotations

from workbench.core.federated import FederationEvent, ServeConfig
from workbench.core.federated.config import JoinConfig
from workbench.core.training import TrainConfig
from workbench.gui.train.federation_page import FederationPage


def test_the_form_builds_each_role_and_rounds_show_up(qtbot, tmp_path):
    page = FederationPage()
    qtbot.addWidget(page)
    assert not page.start_button.isEnabled()  # no project yet
    page.set_project(str(tmp_path / "p.wbproj"))
    assert page.start_button.isEnabled()
    page.training_source = lambda: TrainConfig(method="setfit", epochs=2)
    page.address.setText("127.0.0.1:9555")
    page.rounds.setValue(3)
    page.min_sites.setValue(4)
    job, config = page.job_and_config()
    assert job.__name__ == "serve_job" and isinstance(config, ServeConfig)
    assert (config.federation.address, config.federation.rounds, config.federation.min_sites) == (
        "127.0.0.1:9555", 3, 4)
    assert config.training.method == "finetune" and config.training.epochs == 2
    assert config.federation.exchange == "full"
    page.exchange.setCurrentIndex(1)
    assert page.job_and_config()[1].federation.exchange == "lora"
    page.role.setCurrentIndex(1)
    assert not page.rounds.isEnabled() and not page.exchange.isEnabled()
    job, config = page.job_and_config()
    assert job.__name__ == "join_job" and isinstance(config, JoinConfig)
    assert config.site.address == "127.0.0.1:9555"

    page.on_event(FederationEvent("join", message="Site north joined", sites=["north"]))
    page.on_event(FederationEvent("round", 1, 3, "Round 1 done", round=1, sites=["north", "south"],
                                  metrics={"macro_f1": 0.5, "accuracy": 0.75}))
    assert page.table.rowCount() == 1
    assert page.table.item(0, 2).text() == "0.500" and page.table.item(0, 1).text() == "2"
    assert "north, south" in page.sites.text()
    assert "Site north joined" in page.log.toPlainText()
    page.resize(700, 600)
    page.grab().save("/tmp/federation_page.png")


def test_privacy_settings_and_the_budget_show_on_the_page(qtbot, tmp_path):
    import pytest

    pytest.importorskip("dp_accounting")
    from workbench.core.federated.accounting import epsilon

    page = FederationPage()
    qtbot.addWidget(page)
    page.set_project(str(tmp_path / "p.wbproj"))
    assert page.job_and_config()[1].privacy.differential_privacy is False
    assert page.budget.text() == ""
    page.rounds.setValue(4)
    page.privacy.set_values({"differential_privacy": True, "noise_multiplier": 1.5,
                             "clipping_norm": 0.2, "clipping": "sites"})
    privacy = page.job_and_config()[1].privacy
    assert (privacy.differential_privacy, privacy.noise_multiplier, privacy.clipping_norm,
            privacy.clipping, privacy.delta) == (True, 1.5, 0.2, "sites", 1e-5)
    assert f"ε = {epsilon(1.5, 4, 1e-5):.3g}" in page.budget.text()
    page.rounds.setValue(8)  # the budget follows the rounds
    assert f"ε = {epsilon(1.5, 8, 1e-5):.3g}" in page.budget.text()
    page.on_event(FederationEvent("round", 1, 8, "Round 1 done", round=1, sites=["north", "south"],
                                  metrics={"macro_f1": 0.5, "accuracy": 0.75},
                                  privacy={"epsilon": 1.234, "delta": 1e-5}))
    assert page.table.item(0, 4).text() == "1.23"
    page.role.setCurrentIndex(1)  # a site does not choose the privacy settings
    assert not page.privacy.inputs["noise_multiplier"].isEnabled() and page.budget.text() == ""
    page.role.setCurrentIndex(0)
    assert page.privacy.inputs["noise_multiplier"].isEnabled() and "ε = " in page.budget.text()


def test_every_federation_and_site_setting_is_on_the_page(qtbot, tmp_path):
    """Local epochs, FedProx, the server step and the rest come from the configs' own forms;
    a site's name and model choice reach the join job."""
    page = FederationPage()
    qtbot.addWidget(page)
    page.set_project(str(tmp_path / "p.wbproj"))
    page.show()
    assert page.federation.isVisible() and not page.site.isVisible()
    assert "local_epochs" in page.federation.inputs and "address" not in page.federation.inputs
    assert page.job_and_config()[1].federation.local_epochs == 5  # the config's default
    page.federation.set_values({"local_epochs": 2, "proximal_mu": 0.01, "server_optimizer": "adam",
                                "server_learning_rate": 0.002, "server_momentum": 0.5})
    page.rounds.setValue(7)
    fed = page.job_and_config()[1].federation
    assert (fed.local_epochs, fed.proximal_mu, fed.server_optimizer, fed.server_learning_rate,
            fed.server_momentum, fed.rounds) == (2, 0.01, "adam", 0.002, 0.5, 7)
    assert not page.federation.labels["proximal_mu"].isVisible()  # folded until asked for

    page.role.setCurrentIndex(1)
    assert page.site.isVisible() and not page.federation.isVisible()
    page.address.setText("10.0.0.5:9100")
    page.site.set_values({"name": "north", "keep_model": False})
    site = page.job_and_config()[1].site
    assert (site.address, site.name, site.keep_model) == ("10.0.0.5:9100", "north", False)


def test_refused_settings_say_why_and_start_nothing(qtbot, tmp_path):
    from workbench.core.errors import WorkbenchError

    page = FederationPage()
    qtbot.addWidget(page)
    page.set_project(str(tmp_path / "p.wbproj"))

    def refused() -> TrainConfig:
        raise WorkbenchError("Learning rate must be above 0.")

    page.training_source = refused
    page.start()
    assert page.handle is None and page.start_button.isEnabled() and not page.stop_button.isEnabled()
    assert "Cannot start: Learning rate must be above 0." in page.log.toPlainText()
