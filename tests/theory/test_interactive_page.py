"""docs/interactive/dirac_gan.html in a real headless Chromium (selenium + Debian's chromedriver).

The page's simulation (``window.diracGAN.simulate``) and linearised run must follow ``lightning_r1.theory`` to 1e-9,
its eigenvalue read-outs (of the Jacobian, and of one simultaneous or alternating step) must follow the theory and
an independent numpy computation when the controls are moved by real keyboard and mouse input, the start point must
be settable by dragging and by keyboard-reachable number inputs, γ = 1 must explain its repeated eigenvalue, and at
1024- and 1440-px windows the page must not scroll sideways and must show every panel. Skipped only where Chromium,
its driver or selenium is missing (CI installs them: .ci/run). ``UPDATE_DOCS_SCREENSHOT=1`` also writes the docs'
screenshot docs/interactive/dirac_gan.png at the default start (docs/make_figures.sh does).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO_ROOT
from lightning_r1.theory import (
    DiracSetup,
    contraction,
    eigenvalues,
    linearised_trajectory,
    r1_eigenvalues,
    simulate,
)

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
                "--window-size=1440,1400", "--force-device-scale-factor=1", "--hide-scrollbars"):  # fmt: skip
        options.add_argument(arg)
    drv = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    drv.set_script_timeout(30)
    drv.get(PAGE.as_uri())
    yield drv
    drv.quit()


def load(drv, width: int = 1440, height: int = 1400) -> None:
    """A fresh page (default controls) in a window ``width`` CSS pixels wide."""
    drv.set_window_size(width, height)
    drv.get(PAGE.as_uri())
    assert drv.execute_script("return window.innerWidth;") == width


def set_gamma(drv, hundredths: int) -> None:
    """γ = hundredths/100 by real keyboard input on the slider (Home, then arrow-right steps of 0.01)."""
    slider = drv.find_element(By.ID, "gamma")
    slider.send_keys(
        Keys.HOME + Keys.ARROW_RIGHT * hundredths
    )  # one WebDriver call, `hundredths` key presses
    assert displayed(drv, "gamma-value") == pytest.approx(hundredths / 100)


def displayed_eigenvalues(drv, ids: tuple[str, str] = ("eig1", "eig2")) -> np.ndarray:
    values = []
    for element_id in ids:
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


def drag_start(drv, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Press at phase-portrait point ``start``, move to ``end``, release (real pointer input)."""
    phase = drv.find_element(By.ID, "phase")
    rect = drv.execute_script("return arguments[0].getBoundingClientRect();", phase)
    centre = (rect["left"] + rect["width"] / 2, rect["top"] + rect["height"] / 2)
    (x0, y0), (x1, y1) = (drv.execute_script("return window.diracGAN.phaseClientPoint(...arguments);", *p)
                          for p in (start, end))  # fmt: skip
    ActionChains(drv).move_to_element_with_offset(phase, round(x0 - centre[0]), round(y0 - centre[1])).click_and_hold(
    ).move_by_offset(round(x1 - x0), round(y1 - y0)).release().perform()  # fmt: skip


def test_simulate_matches_the_python_theory(driver) -> None:
    load(driver)
    for setup in SETUPS:
        page = np.array(driver.execute_script("return window.diracGAN.simulate(arguments[0]);", setup))
        theory = simulate(
            DiracSetup(loss=setup["loss"], gamma=setup["gamma"], gp_weight=setup.get("gpWeight", 0.0)),
            setup["theta0"], setup["psi0"], setup["lr"], setup["steps"], setup["update"],
        )  # fmt: skip
        assert page.shape == theory.shape == (setup["steps"] + 1, 2), setup
        np.testing.assert_allclose(page, theory, rtol=0, atol=1e-9, err_msg=str(setup))


def test_gamma_slider_moves_the_eigenvalues_as_the_theory_says(driver) -> None:
    load(driver)
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
    drag_start(driver, (1.0, 0.0), (1.0, 0.5))
    state = driver.execute_script("return window.diracGAN.state;")
    assert state["theta0"] == pytest.approx(1.0, abs=0.02) and state["psi0"] == pytest.approx(0.5, abs=0.02)
    # the number inputs follow the drag
    assert float(driver.find_element(By.ID, "theta0").get_attribute("value")) == state["theta0"]
    assert float(driver.find_element(By.ID, "psi0").get_attribute("value")) == state["psi0"]
    assert state["trajectory"][0] == [state["theta0"], state["psi0"]]
    moved = simulate(DiracSetup(gamma=0.3), state["theta0"], state["psi0"], 0.1, 300)
    np.testing.assert_allclose(np.array(state["trajectory"]), moved, atol=1e-9)

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


def test_linearised_run_matches_the_python_theory(driver) -> None:
    load(driver)
    for setup in SETUPS[:7]:
        page = np.array(driver.execute_script("return window.diracGAN.linearised(arguments[0]);", setup))
        theory = linearised_trajectory(DiracSetup(loss=setup["loss"], gamma=setup["gamma"]), setup["theta0"],
                                       setup["psi0"], setup["lr"], setup["steps"], setup["update"])  # fmt: skip
        np.testing.assert_allclose(page, theory, rtol=1e-9, atol=1e-12, err_msg=str(setup))
    assert (
        driver.execute_script("return window.diracGAN.linearised({gpWeight: 1, loss: 'wasserstein'});")
        is None
    )


def numpy_step_eigenvalues(f1: float, gamma: float, h: float) -> dict[str, np.ndarray]:
    """Eigenvalues of one linearised step, built here from J = [[0, f'(0)], [-f'(0), -γ]] (D high on real)."""
    jac = np.array([[0.0, f1], [-f1, -gamma]])
    d_step = np.array([[1.0, 0.0], [h * jac[1, 0], 1 + h * jac[1, 1]]])  # D first ...
    g_step = np.array([[1 + h * jac[0, 0], h * jac[0, 1]], [0.0, 1.0]])  # ... then G with the new ψ
    steps = {"simultaneous": np.eye(2) + h * jac, "alternating": g_step @ d_step}
    return {name: np.sort_complex(np.linalg.eigvals(m).astype(complex)) for name, m in steps.items()}


def test_per_step_eigenvalues_follow_numpy(driver) -> None:
    """The step panel's μ (simultaneous and alternating, both shown) for keyboard-set γ, h and loss."""
    load(driver)
    lr_input = driver.find_element(By.ID, "lr")
    # (loss, f'(0), h, γ values): both sides of the critical γ, the repeated root at γ = 2 f'(0), a large step
    cases = [
        ("minimax", 0.5, 0.1, (0, 50, 100, 230)),
        ("minimax", 0.5, 0.35, (100,)),
        ("wasserstein", 1.0, 0.35, (0, 200)),
    ]
    for loss, f1, h, gammas in cases:
        driver.find_element(By.CSS_SELECTOR, f"#loss option[value={loss}]").click()
        lr_input.send_keys(Keys.CONTROL, "a")
        lr_input.send_keys(str(h), Keys.TAB)
        for hundredths in gammas:
            set_gamma(driver, hundredths)
            expected = numpy_step_eigenvalues(f1, hundredths / 100, h)
            for update, mu in expected.items():
                shown = np.sort_complex(
                    displayed_eigenvalues(driver, (f"step-{update}-1", f"step-{update}-2"))
                )
                np.testing.assert_allclose(
                    shown, mu, atol=1e-12, err_msg=f"{loss} h={h} γ={hundredths / 100} {update}"
                )
                # at a repeated root (γ = 1, h = 0.35) eigenvalues are fixed only to ~sqrt(machine ε): 1e-7
                assert displayed(driver, f"step-{update}-abs") == pytest.approx(
                    np.abs(shown).max(), abs=1e-12
                )
                assert np.abs(shown).max() == pytest.approx(np.abs(mu).max(), abs=1e-7)
                theory = contraction(DiracSetup(loss=loss, gamma=hundredths / 100), h, update)
                assert np.abs(mu).max() == pytest.approx(theory, abs=1e-7)
            # the chosen update (simultaneous) gives the predicted factor
            assert displayed(driver, "factor") == displayed(driver, "step-simultaneous-abs")
    # without a penalty the alternating step sits on the unit circle, the simultaneous one outside it
    driver.find_element(By.CSS_SELECTOR, "#loss option[value=minimax]").click()
    set_gamma(driver, 0)
    assert displayed(driver, "step-alternating-abs") == pytest.approx(1.0, abs=1e-12)
    assert displayed(driver, "step-simultaneous-abs") > 1.0
    assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_gamma_one_explains_the_repeated_eigenvalue(driver) -> None:
    """γ = 1: μ = 0.95 twice, the note says k·ρ^k, the dashed prediction is ρ^k (x₀ + (kh/ρ) N x₀)."""
    load(driver)
    note = driver.find_element(By.ID, "dist-note")
    assert not note.is_displayed()  # γ = 0.3: no note
    set_gamma(driver, 100)
    assert note.is_displayed() and "k·ρ^k" in note.text and "Jordan" in note.text
    np.testing.assert_allclose(displayed_eigenvalues(driver), [-0.5, -0.5], atol=1e-12)
    mu = displayed_eigenvalues(driver, ("step-simultaneous-1", "step-simultaneous-2"))
    np.testing.assert_allclose(mu, [0.95, 0.95], atol=1e-12)
    state = driver.execute_script("return window.diracGAN.state;")
    rho, h, k = 0.95, 0.1, np.arange(301)
    by_hand = rho ** k[:, None] * (
        np.ones(2) + (k * h / rho)[:, None] * np.array([1.0, -1.0])
    )  # N (1, 1) = (1, -1)
    np.testing.assert_allclose(np.array(state["linear"]), by_hand, rtol=1e-9)
    end = simulate(DiracSetup(gamma=1.0), 1.0, 1.0, h, 300)[-1]
    assert displayed(driver, "distance", "data-end") == pytest.approx(float(np.hypot(*end)), abs=1e-12)
    assert float(np.hypot(*end)) > 10 * rho**300 * np.sqrt(2)  # the straight ρ^k line misses it
    set_gamma(driver, 150)
    assert not note.is_displayed()


def test_start_point_number_inputs_are_keyboard_reachable(driver) -> None:
    load(driver)
    driver.find_element(By.ID, "gp").click()  # the last control of the bar; Tab walks on from there
    body = driver.switch_to.active_element
    for _ in range(20):
        if driver.execute_script("return document.activeElement.id;") == "theta0":
            break
        body = driver.switch_to.active_element
        body.send_keys(Keys.TAB)
    active = driver.switch_to.active_element
    assert active.get_attribute("id") == "theta0"
    active.send_keys(Keys.CONTROL, "a")
    active.send_keys("0.5", Keys.TAB)
    active = driver.switch_to.active_element
    assert active.get_attribute("id") == "psi0"
    active.send_keys(Keys.CONTROL, "a")
    active.send_keys("-1.5")
    active.send_keys(Keys.ARROW_UP)  # number input step 0.1
    state = driver.execute_script("return window.diracGAN.state;")
    assert (state["theta0"], state["psi0"]) == (0.5, pytest.approx(-1.4))
    np.testing.assert_allclose(np.array(state["trajectory"]), simulate(DiracSetup(gamma=0.3), 0.5, state["psi0"],
                                                                         0.1, 300), atol=1e-9)  # fmt: skip


def overflow_report(drv) -> dict:
    return drv.execute_script("""
        const doc = document.documentElement, out = {scrollWidth: doc.scrollWidth, clientWidth: doc.clientWidth,
                                                     innerWidth: window.innerWidth, boxes: {}};
        for (const el of document.querySelectorAll('.panel, canvas')) {
            const r = el.getBoundingClientRect();
            out.boxes[el.id] = {left: r.left, right: r.right, width: r.width, height: r.height,
                                buffer: el.width || null, client: el.clientWidth, dpr: window.devicePixelRatio};
        }
        return out;""")


@pytest.mark.parametrize("width", [1024, 1440])
def test_every_panel_fits_the_window(driver, width: int, tmp_path: Path) -> None:
    """No sideways scroll, every panel and canvas inside the viewport's width, canvases drawn at their CSS size."""
    load(driver, width)
    report = overflow_report(driver)
    assert report["scrollWidth"] <= report["clientWidth"] == width, report
    panels = {"panel-phase", "panel-eig", "panel-dist", "panel-data"}
    canvases = {"phase", "eig", "step", "dist", "data"}
    assert set(report["boxes"]) == panels | canvases
    for name, box in report["boxes"].items():
        assert 0 <= box["left"] and box["right"] <= report["clientWidth"], (width, name, box)
        assert box["width"] > 200 and box["height"] > 100, (width, name, box)
        if name in canvases:  # the drawing buffer follows the CSS size: nothing stretched or cut
            assert box["buffer"] == round(box["client"] * box["dpr"]), (name, box)
    # the data-space view at a later frame (the start stays the default one), then the picture of the whole page
    frame = driver.find_element(By.ID, "frame")
    for _ in range(60):
        frame.send_keys(Keys.ARROW_RIGHT)
    assert "iteration 60" in driver.find_element(By.ID, "frame-info").text
    state = driver.execute_script("return window.diracGAN.state;")
    assert (state["theta0"], state["psi0"], state["gamma"]) == (1, 1, 0.3)
    for _ in range(
        3
    ):  # grow the window until the whole page is in the viewport (the window has its own chrome)
        missing = driver.execute_script("return document.documentElement.scrollHeight - window.innerHeight;")
        if missing <= 0:
            break
        size = driver.get_window_size()
        driver.set_window_size(width, size["height"] + missing + 10)
    assert driver.execute_script("return window.innerWidth;") == width
    shot = tmp_path / f"dirac_gan_{width}.png"
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 50_000
    if os.environ.get("SCREENSHOT_DIR"):
        shutil.copyfile(shot, Path(os.environ["SCREENSHOT_DIR"]) / shot.name)
    if width == 1440 and os.environ.get("UPDATE_DOCS_SCREENSHOT"):
        shutil.copyfile(shot, DOCS_SCREENSHOT)
    assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
