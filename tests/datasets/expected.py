"""What each reader must produce from the default miniatures (vlprompt.testing.datasets), written out by
hand from the reference rules (datasets spec) rather than computed by the code under test."""
from vlprompt.testing.datasets import FOLDER_COUNTS, OFFICIAL_TRAIN_COUNTS, OFFICIAL_VAL_COUNTS, TRAINVAL_COUNTS

# 50/20/30 with round-half-to-even: 7 images -> 4 train (3.5 rounds up to even), 5 -> 2 (2.5 rounds down).
FOLDER_SPLIT = {34: (17, 7, 10), 12: (6, 2, 4), 7: (4, 1, 2), 5: (2, 1, 2)}
# 80/20 of trainval, val = round(0.2 n): 21 -> 4 (4.2), 8 -> 2 (1.6), 4 -> 1 (0.8), 3 -> 1 (0.6); test 4 each.
TRAINVAL_SPLIT = {21: (17, 4, 4), 8: (6, 2, 4), 4: (3, 1, 4), 3: (2, 1, 4)}


def _cycle(table, counts, n):
    return [table[counts[i % len(counts)]] for i in range(n)]


def _official(n, test):
    return [(OFFICIAL_TRAIN_COUNTS[i % 4], OFFICIAL_VAL_COUNTS[i % 4], test) for i in range(n)]


IMAGENET_NAMES = ["tench", "goldfish", "hammerhead shark", "rooster", "sunglasses", "sunglasses"]

# stem: registry name, dataset folder, class names in label order, per-label (train, val, test) sizes
# (val None: no val list; ImageNet's val is its test list).
EXPECTED = {
    "imagenet": ("ImageNet", "imagenet", IMAGENET_NAMES,
                 [(OFFICIAL_TRAIN_COUNTS[i % 4], 3, 3) for i in range(6)]),
    "caltech101": ("Caltech101", "caltech-101",
                   ["face", "leopard", "motorbike", "accordion", "airplane", "anchor", "crocodile_head", "yin_yang"],
                   _cycle(FOLDER_SPLIT, FOLDER_COUNTS, 8)),
    "oxford_pets": ("OxfordPets", "oxford_pets",
                    ["abyssinian", "american_bulldog", "american_pit_bull_terrier", "basset_hound", "beagle", "bengal"],
                    _cycle(TRAINVAL_SPLIT, TRAINVAL_COUNTS, 6)),
    "stanford_cars": ("StanfordCars", "stanford_cars",
                      ["2000 AM General Hummer SUV", "2012 Acura RL Sedan", "2012 Acura TL Sedan",
                       "2008 Acura TL Type-S", "2012 Acura TSX Sedan", "2001 Acura Integra Type R"],
                      _cycle(TRAINVAL_SPLIT, TRAINVAL_COUNTS, 6)),
    "oxford_flowers": ("OxfordFlowers", "oxford_flowers",
                       ["pink primrose", "hard-leaved pocket orchid", "canterbury bells", "sweet pea",
                        "english marigold", "tiger lily"],
                       _cycle(FOLDER_SPLIT, FOLDER_COUNTS, 6)),
    "food101": ("Food101", "food-101", ["apple_pie", "baby_back_ribs", "baklava", "beef_carpaccio", "beef_tartare"],
                _cycle(FOLDER_SPLIT, FOLDER_COUNTS, 5)),
    "fgvc_aircraft": ("FGVCAircraft", "fgvc_aircraft",
                      ["707-320", "727-200", "A340-500", "F/A-18", "Falcon 2000", "Cessna 172"], _official(6, 3)),
    "sun397": ("SUN397", "sun397",
               ["abbey", "outdoor apartment_building", "shop bakery", "bathroom", "campus", "ski_slope"],
               _cycle(TRAINVAL_SPLIT, TRAINVAL_COUNTS, 6)),
    "dtd": ("DescribableTextures", "dtd", ["banded", "blotchy", "braided", "bubbly", "bumpy"],
            _cycle(FOLDER_SPLIT, FOLDER_COUNTS, 5)),
    "eurosat": ("EuroSAT", "eurosat",
                ["Annual Crop Land", "Forest", "Herbaceous Vegetation Land", "Highway or Road", "Industrial Buildings",
                 "Pasture Land", "Permanent Crop Land", "Residential Buildings", "River", "Sea or Lake"],
                _cycle(FOLDER_SPLIT, FOLDER_COUNTS, 10)),
    "ucf101": ("UCF101", "ucf101",
               ["Apply_Eye_Makeup", "Archery", "Handstand_Pushups", "Playing_Daf", "Skijet", "Yo_Yo"],
               _cycle(TRAINVAL_SPLIT, TRAINVAL_COUNTS, 6)),
    "imagenetv2": ("ImageNetV2", "imagenetv2", IMAGENET_NAMES, [(3, None, 3)] * 6),
    "imagenet_sketch": ("ImageNetSketch", "imagenet-sketch", IMAGENET_NAMES, [(3, None, 3)] * 6),
    "imagenet_a": ("ImageNetA", "imagenet-adversarial", ["stingray", "goldfinch", "junco", "American robin"],
                   [(3, None, 3)] * 4),
    "imagenet_r": ("ImageNetR", "imagenet-rendition", ["goldfish", "great white shark", "hammerhead shark", "ostrich"],
                   [(3, None, 3)] * 4),
}

VARIANTS = ["imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r"]
BENCHMARKS = [s for s in EXPECTED if s not in VARIANTS]
# Benchmarks whose split is a split_zhou_<Name>.json file (not FGVC, not ImageNet).
SPLIT_FILES = {
    "caltech101": "split_zhou_Caltech101.json", "oxford_pets": "split_zhou_OxfordPets.json",
    "stanford_cars": "split_zhou_StanfordCars.json", "oxford_flowers": "split_zhou_OxfordFlowers.json",
    "food101": "split_zhou_Food101.json", "sun397": "split_zhou_SUN397.json",
    "dtd": "split_zhou_DescribableTextures.json", "eurosat": "split_zhou_EuroSAT.json", "ucf101": "split_zhou_UCF101.json",
}
# Folder that split-file paths are relative to (Stanford Cars: the dataset folder itself).
IMAGE_FOLDERS = {
    "caltech101": "101_ObjectCategories", "oxford_pets": "images", "stanford_cars": "", "oxford_flowers": "jpg",
    "food101": "images", "sun397": "SUN397", "dtd": "images", "eurosat": "2750", "ucf101": "UCF-101-midframes",
}
