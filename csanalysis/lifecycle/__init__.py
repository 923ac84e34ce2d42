"""The customer lifecycle (notebook 07_lifecycle): onboarding and time to first value (:mod:`.onboarding`),
adoption (:mod:`.adoption`), renewal (:mod:`.renewal`) and expansion (:mod:`.expansion`). Import the submodules
directly, e.g. ``from csanalysis.lifecycle import onboarding``."""
