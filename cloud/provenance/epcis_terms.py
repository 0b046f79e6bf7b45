"""Closed code lists of EPCIS 2.0 JSON besides the CBV terms in :mod:`vocab`.

Each list is what the EPCIS 2.0 JSON schema enumerates for its field; a value outside it must
be a URI of one's own (see :mod:`cloud.provenance.epcis_types`).
"""

from __future__ import annotations

from typing import Final

from cloud.provenance.vocab import BIZ_STEPS, DISPOSITIONS, SOURCE_DEST_TYPES

__all__ = [
    "ACTIONS",
    "BIZ_STEPS",
    "BIZ_TRANSACTION_TYPES",
    "COMPONENTS",
    "DISPOSITIONS",
    "ERROR_REASONS",
    "EVENT_TYPES",
    "MEASUREMENT_TYPES",
    "SENSOR_ALERT_TYPES",
    "SOURCE_DEST_TYPES",
]

EVENT_TYPES: Final = (
    "ObjectEvent",
    "AggregationEvent",
    "TransactionEvent",
    "TransformationEvent",
    "AssociationEvent",
)
ACTIONS: Final = frozenset({"OBSERVE", "ADD", "DELETE"})
BIZ_TRANSACTION_TYPES: Final = frozenset(
    [
        "bol", "cert", "desadv", "inv", "pedigree", "po", "poc", "prodorder", "recadv", "rma",
        "testprd", "testres", "upevt",
    ]
)
ERROR_REASONS: Final = frozenset({"did_not_occur", "incorrect_data"})
SENSOR_ALERT_TYPES: Final = frozenset({"ALARM_CONDITION", "ERROR_CONDITION"})
COMPONENTS: Final = frozenset(
    [
        "x", "y", "z", "axial_distance", "azimuth", "height", "spherical_radius", "polar_angle",
        "elevation_angle", "easting", "northing", "latitude", "longitude", "altitude",
    ]
)
MEASUREMENT_TYPES: Final = frozenset(
    [
        "AbsoluteHumidity", "AbsorbedDose", "AbsorbedDoseRate", "Acceleration", "Radioactivity",
        "Altitude", "AmountOfSubstance", "AmountOfSubstancePerUnitVolume", "Angle",
        "AngularAcceleration", "AngularMomentum", "AngularVelocity", "Area", "Capacitance",
        "Conductance", "Conductivity", "Count", "Density", "Dimensionless", "DoseEquivalent",
        "DoseEquivalentRate", "DynamicViscosity", "ElectricCharge", "ElectricCurrent",
        "ElectricCurrentDensity", "ElectricFieldStrength", "Energy", "Exposure", "Force",
        "Frequency", "Illuminance", "Inductance", "Irradiance", "KinematicViscosity", "Length",
        "LinearMomentum", "Luminance", "LuminousFlux", "LuminousIntensity", "MagneticFlux",
        "MagneticFluxDensity", "MagneticVectorPotential", "Mass", "MassConcentration",
        "MassFlowRate", "MassPerAreaTime", "MemoryCapacity", "MolalityOfSolute", "MolarEnergy",
        "MolarMass", "MolarVolume", "Power", "Pressure", "RadiantFlux", "RadiantIntensity",
        "RelativeHumidity", "Resistance", "Resistivity", "SolidAngle", "SpecificVolume", "Speed",
        "SurfaceDensity", "SurfaceTension", "Temperature", "Time", "Torque", "Voltage", "Volume",
        "VolumeFlowRate", "VolumeFraction", "VolumetricFlux", "Wavenumber",
    ]
)
