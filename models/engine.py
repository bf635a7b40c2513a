"""Everything a forecast needs, loaded once: catalog, checked artifact, predictor."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from models.artifact import Artifact, load_artifact
from models.catalog import DEFAULT_CATALOG, Catalog, load_catalog
from models.evidence import Evidence, evidence_from_reports
from models.forecast import Forecast, ForecastOut, Prior
from models.predict import Predictor
from models.provenance import Provenance
from models.reference import DEFAULT_REFERENCE, reference_fingerprint
from models.scenario import Overrides, Scenario

NO_OVERRIDES = Overrides()


@dataclass(frozen=True)
class Engine:
    """The catalog, the checked artifact and its predictor: what every forecast needs."""

    catalog: Catalog
    artifact: Artifact
    predictor: Predictor

    @classmethod
    def load(
        cls,
        artifact_path: Path,
        catalog_path: Path = DEFAULT_CATALOG,
        reference_path: Path = DEFAULT_REFERENCE,
    ) -> Engine:
        """Load and check the artifact against the catalog and reference data on disk."""
        catalog = load_catalog(catalog_path)
        fingerprint = reference_fingerprint(catalog, reference_path)
        artifact = load_artifact(artifact_path, catalog, fingerprint)
        return cls(catalog, artifact, artifact.predictor(catalog))

    @property
    def coding_reliability(self) -> float:
        """How far a coding by someone other than the reference set's coders is to be trusted
        (`models.agreement`), as recorded with the artifact; 1 when no second coding was."""
        agreed = self.artifact.meta.get("agreement")
        return float(agreed["reliability"]) if agreed else 1.0

    def forecast(
        self,
        evidence: Evidence,
        prior: Prior,
        overrides: Overrides = NO_OVERRIDES,
        explain: bool = True,
    ) -> Forecast:
        """The forecast from this evidence under `prior` (the overrides' outcome prior, if they
        fix one), with the overrides' likelihoods fixed in place of the fitted ones; without
        drivers and what to look for next unless `explain`."""
        fixed = {name: value.as_array() for name, value in overrides.likelihoods.items()}
        return self.predictor.predict(
            evidence, scenario_prior(prior.kind, overrides, prior), fixed or None, explain
        )

    def record(self, forecast: Forecast, case_id: str, provenance: Provenance) -> ForecastOut:
        """The forecast as the API, the CLI's --json, the live row and the history hold it."""
        return ForecastOut.of(forecast, case_id, self.artifact.id, provenance)

    def run(self, scenario: Scenario, overrides: Overrides | None = None) -> Forecast:
        """The forecast from a scenario's reports on its date, for its kind, under its overrides
        (or under `overrides` instead): what `forecast run` prints and the what-if endpoint
        serves."""
        evidence = evidence_from_reports(self.catalog, scenario.to_reports(), scenario.as_of)
        chosen = scenario.overrides if overrides is None else overrides
        return self.forecast(evidence, Prior(scenario.kind), chosen)


def scenario_prior(kind: str, overrides: Overrides, default: Prior | None = None) -> Prior:
    """The prior a forecast under `overrides` uses: theirs if they fix one, else `default`
    (the kind's population prior when none is given)."""
    if overrides.outcome_prior is not None:
        return Prior(kind, "scenario", tuple(overrides.outcome_prior.as_array()))
    return default or Prior(kind)
