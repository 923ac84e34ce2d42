"""What customers say (voice of the customer): text normalisation and tokenization (``text``), the theme
dictionary (``themes``), distinguishing words by weighted log-odds (``terms``) and the analysis behind report 06's
voice sections (``analysis``). One import for callers: ``from csanalysis import voice``."""
from .analysis import DEFAULT_HORIZON, VoiceResult, theme_associations, theme_prevalence, voice, voice_texts
from .terms import log_odds, log_odds_counts
from .text import normalise, tokenize, tokenize_many
from .themes import DEFAULT_THEMES, ThemeDictionary, ThemeFileError, load_themes, parse_themes

__all__ = ["DEFAULT_HORIZON", "DEFAULT_THEMES", "ThemeDictionary", "ThemeFileError", "VoiceResult", "load_themes",
           "log_odds", "log_odds_counts", "normalise", "parse_themes", "theme_associations", "theme_prevalence",
           "tokenize", "tokenize_many", "voice", "voice_texts"]
