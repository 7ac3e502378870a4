"""The Federation page offers secure aggregation (from PrivacyConfig's setting)."""
from __future__ import annotations

from workbench.gui.train.federation_page import FederationPage


def test_secure_aggregation_is_a_choice_of_the_coordinator(qtbot, tmp_path):
    page = FederationPage()
    qtbot.addWidget(page)
    page.set_project(str(tmp_path / "p.wbproj"))
    assert page.job_and_config()[1].privacy.secure_aggregation is False
    page.privacy.set_values({"secure_aggregation": True})
    privacy = page.job_and_config()[1].privacy
    assert privacy.secure_aggregation is True and privacy.differential_privacy is False
    page.role.setCurrentIndex(1)  # a site follows the coordinator's choice
    assert not page.privacy.inputs["secure_aggregation"].isEnabled()
    page.role.setCurrentIndex(0)
    assert page.privacy.inputs["secure_aggregation"].isEnabled()
    page.resize(700, 640)
    page.grab().save(str(tmp_path / "federation_secagg.png"))
