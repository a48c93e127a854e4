"""docs/interactive/dirac_gan.html in a real headless Chromium (selenium + Debian's chromedriver).

The page's simulation (``window.diracGAN.simulate``) must follow ``lightning_r1.theory.simulate`` to 1e-9, its
eigenvalue read-out must follow ``r1_eigenvalues``/``contraction`` when the γ slider is moved by real keyboard and
mouse input, and dragging the start point must restart the trajectory there. Skipped only where Chromium, its driver
or selenium is missing (CI installs them: .ci/run). ``UPDATE_DOCS_SCREENSHOT=1`` also writes the docs' screenshot
docs/interactive/dirac_gan.png (docs/make_figures.sh does).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO_ROOT
from lightning_r1.theory import DiracSetup, contraction, eigenvalues, r1_eigenvalues, simulate

PAGE = REPO_ROOT / "docs" / "interactive" / "dirac_gan.html"
DOCS_SCREENSHOT = PAGE.with_suffix(".png")


def _find(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = _find("chromium", "chromium-browser", "google-chrome")
CHROMEDRIVER = _find("chromedriver")

webdriver = pytest.importorskip(
    "selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')"
)
if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.skip(
        "chromium and chromedriver are not on PATH (apt-get install -y chromium chromium-driver)",
        allow_module_level=True,
    )

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402


@pytest.fixture(scope="module")
def driver():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1320,1340", "--force-device-scale-factor=1"):  # fmt: skip
        options.add_argument(arg)
    drv = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    drv.set_script_timeout(30)
    drv.get(PAGE.as_uri())
    yield drv
    drv.quit()


def displayed_eigenvalues(drv) -> np.ndarray:
    values = []
    for element_id in ("eig1", "eig2"):
        el = drv.find_element(By.ID, element_id)
        values.append(complex(float(el.get_attribute("data-re")), float(el.get_attribute("data-im"))))
    return np.array(values)


def displayed(drv, element_id: str, attribute: str = "data-value") -> float:
    return float(drv.find_element(By.ID, element_id).get_attribute(attribute))


SETUPS = [
    dict(gamma=0.3, lr=0.1, steps=300, theta0=1.0, psi0=1.0, update="simultaneous", loss="minimax"),
    dict(gamma=0.0, lr=0.1, steps=300, theta0=1.0, psi0=1.0, update="simultaneous", loss="minimax"),
    dict(gamma=0.0, lr=0.1, steps=300, theta0=1.0, psi0=1.0, update="alternating", loss="minimax"),
    dict(gamma=1.5, lr=0.2, steps=200, theta0=-1.3, psi0=0.4, update="simultaneous", loss="nonsaturating"),
    dict(gamma=0.7, lr=0.05, steps=400, theta0=0.5, psi0=-1.8, update="alternating", loss="nonsaturating"),
    dict(gamma=0.0, lr=0.1, steps=300, theta0=1.0, psi0=1.0, update="simultaneous", loss="wasserstein"),
    dict(gamma=0.4, lr=0.1, steps=300, theta0=2.0, psi0=0.0, update="alternating", loss="wasserstein"),
    dict(gamma=0.2, lr=0.1, steps=300, theta0=-2.0, psi0=1.5, update="simultaneous", loss="hinge"),
    dict(
        gamma=0.0,
        gpWeight=1.0,
        lr=0.1,
        steps=100,
        theta0=1.0,
        psi0=1.0,
        update="simultaneous",
        loss="wasserstein",
    ),
]


def test_simulate_matches_the_python_theory(driver) -> None:
    for setup in SETUPS:
        page = np.array(driver.execute_script("return window.diracGAN.simulate(arguments[0]);", setup))
        theory = simulate(
            DiracSetup(loss=setup["loss"], gamma=setup["gamma"], gp_weight=setup.get("gpWeight", 0.0)),
            setup["theta0"], setup["psi0"], setup["lr"], setup["steps"], setup["update"],
        )  # fmt: skip
        assert page.shape == theory.shape == (setup["steps"] + 1, 2), setup
        np.testing.assert_allclose(page, theory, rtol=0, atol=1e-9, err_msg=str(setup))


def test_gamma_slider_moves_the_eigenvalues_as_the_theory_says(driver, tmp_path: Path) -> None:
    slider = driver.find_element(By.ID, "gamma")
    assert displayed(driver, "gamma-value") == pytest.approx(0.3)  # the page's default

    slider.send_keys(Keys.HOME)  # real keyboard input: γ = 0, pure rotation ±i/2
    assert displayed(driver, "gamma-value") == 0.0
    np.testing.assert_allclose(displayed_eigenvalues(driver), [-0.5j, 0.5j], atol=1e-12)
    assert displayed(driver, "factor") == pytest.approx(
        contraction(DiracSetup(), 0.1), abs=1e-7
    )  # > 1: spirals out
    assert "0.000 + 0.500i" in driver.find_element(By.ID, "eig2").text

    for _ in range(50):  # 50 steps of 0.01: γ = 0.5
        slider.send_keys(Keys.ARROW_RIGHT)
    gamma = displayed(driver, "gamma-value")
    assert gamma == pytest.approx(0.5)
    np.testing.assert_allclose(displayed_eigenvalues(driver), r1_eigenvalues(gamma), atol=1e-12)
    assert displayed(driver, "factor") == pytest.approx(contraction(DiracSetup(gamma=gamma), 0.1), abs=1e-7)

    slider.send_keys(Keys.END)  # γ = 3 > critical γ = 1: two real eigenvalues
    eig = displayed_eigenvalues(driver)
    np.testing.assert_allclose(eig, r1_eigenvalues(3.0), atol=1e-12)
    assert (eig.imag == 0).all() and eig.real[0] < eig.real[1] < 0

    # a mouse click at 3/4 of the slider's width (real pointer input); whatever γ it lands on, the read-out follows
    ActionChains(driver).move_to_element_with_offset(slider, slider.size["width"] // 4, 0).click().perform()
    gamma = displayed(driver, "gamma-value")
    assert 2.0 < gamma < 2.6
    np.testing.assert_allclose(displayed_eigenvalues(driver), r1_eigenvalues(gamma), atol=1e-12)
    assert displayed(driver, "factor") == pytest.approx(contraction(DiracSetup(gamma=gamma), 0.1), abs=1e-7)

    # the alternating toggle changes the predicted factor to the alternating step matrix's radius
    driver.find_element(By.CSS_SELECTOR, "input[name=update][value=alternating]").click()
    assert displayed(driver, "factor") == pytest.approx(
        contraction(DiracSetup(gamma=gamma), 0.1, "alternating"), abs=1e-7
    )
    # the wasserstein loss doubles f'(0): the critical γ becomes 2
    driver.find_element(By.CSS_SELECTOR, "#loss option[value=wasserstein]").click()
    assert displayed(driver, "critical") == 2.0
    np.testing.assert_allclose(displayed_eigenvalues(driver), r1_eigenvalues(gamma, f1=1.0), atol=1e-12)
    # every loss of the page: its eigenvalues are those of the Jacobian of lightning_r1.theory's exact field
    for loss in ("minimax", "nonsaturating", "wasserstein", "hinge"):
        driver.find_element(By.CSS_SELECTOR, f"#loss option[value={loss}]").click()
        theory = eigenvalues(DiracSetup(loss=loss, gamma=gamma))
        np.testing.assert_allclose(displayed_eigenvalues(driver), theory, atol=1e-6, err_msg=loss)
    driver.find_element(By.CSS_SELECTOR, "#loss option[value=minimax]").click()
    driver.find_element(By.CSS_SELECTOR, "input[name=update][value=simultaneous]").click()

    # set γ back to 0.3 and check the displayed run is the theory's
    slider.send_keys(Keys.HOME)
    for _ in range(30):
        slider.send_keys(Keys.ARROW_RIGHT)
    state = driver.execute_script("return window.diracGAN.state;")
    assert state["gamma"] == pytest.approx(0.3) and state["update"] == "simultaneous"
    end = simulate(DiracSetup(gamma=0.3), 1.0, 1.0, 0.1, 300)[-1]
    assert displayed(driver, "distance", "data-end") == pytest.approx(float(np.hypot(*end)), abs=1e-9)

    # drag the start point: pointer events on the canvas restart the trajectory where the pointer is released
    phase = driver.find_element(By.ID, "phase")
    w = phase.size["width"]
    ActionChains(driver).move_to_element_with_offset(phase, w // 4, 0).click_and_hold().move_by_offset(
        0, -w // 8
    ).release().perform()
    state = driver.execute_script("return window.diracGAN.state;")
    assert state["theta0"] == pytest.approx(1.0, abs=0.05) and state["psi0"] == pytest.approx(0.5, abs=0.05)
    assert state["trajectory"][0] == [state["theta0"], state["psi0"]]
    moved = simulate(DiracSetup(gamma=0.3), state["theta0"], state["psi0"], 0.1, 300)
    np.testing.assert_allclose(np.array(state["trajectory"]), moved, atol=1e-9)

    # the data-space view at a later frame, for the screenshot
    frame = driver.find_element(By.ID, "frame")
    for _ in range(40):
        frame.send_keys(Keys.ARROW_RIGHT)
    assert "iteration 40" in driver.find_element(By.ID, "frame-info").text

    shot = tmp_path / "dirac_gan.png"
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 50_000
    if os.environ.get("UPDATE_DOCS_SCREENSHOT"):
        shutil.copyfile(shot, DOCS_SCREENSHOT)
    # WGAN-GP: the page says there is no Jacobian (kink at ψ = 0) and shows the theory's trajectory
    gp = driver.find_element(By.ID, "gp")
    gp.clear()
    gp.send_keys("1")
    assert driver.find_element(By.ID, "eig1").text == "no Jacobian"
    state = driver.execute_script("return window.diracGAN.state;")
    gp_run = simulate(DiracSetup(gamma=0.3, gp_weight=1.0), state["theta0"], state["psi0"], 0.1, 300)
    np.testing.assert_allclose(np.array(state["trajectory"]), gp_run, atol=1e-9)

    logs = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not logs, logs
