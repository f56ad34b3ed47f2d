"""The French phrase bank of the synthetic reports (:class:`benchmarks.synthetic.reports.Phrases`), in the
phrasing of French radiology and endoscopy reports: sections "RENSEIGNEMENTS CLINIQUES", "TECHNIQUE",
"RÉSULTATS", "CONCLUSION"; elided articles; decimal commas; negations ("pas de", "absence de", "sans") and
hedges ("possible", "ne peut être exclue", "probable"). The renderers are the English ones.
"""

from __future__ import annotations

from benchmarks.synthetic.reports import Phrases


def _decimal(x: float) -> str:
    return str(x).replace(".", ",")


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


# MRI segments as the reader names them, with the preposition the sentences need ("de l'iléon terminal")
_MRI_NAMES_FR = {
    "ileum": (
        "de l'iléon terminal",
        "de la dernière anse iléale",
        "de l'iléon distal",
        "de l'iléon terminal",
    ),
    "ascending": ("du caecum et du côlon ascendant", "du côlon ascendant", "du côlon droit", "du caecum"),
    "transverse": ("du côlon transverse", "du transverse", "du côlon transverse"),
    "descending": ("du côlon descendant", "du côlon gauche", "du côlon descendant"),
    "sigmoid": ("du sigmoïde", "du côlon sigmoïde", "de la jonction recto-sigmoïdienne"),
    "rectum": ("du rectum", "de la paroi rectale", "du rectum"),
}


def bare_name(name: str) -> str:
    """ "de l'iléon terminal" -> "iléon terminal", "du côlon droit" -> "côlon droit"."""
    for prefix in ("de l'", "de la ", "du caecum et du ", "du ", "des "):
        if name.startswith(prefix):
            return name[len(prefix) :] if prefix != "du caecum et du " else "caecum et " + name[len(prefix) :]
    return name


FR = Phrases(
    language="fr",
    number=lambda x: f"{x:g}".replace(".", ","),
    decimal=_decimal,
    incidentals=(
        "Kyste rénal {side} simple de {n} mm, sans conséquence.",
        "Lithiase vésiculaire sans épaississement de la paroi vésiculaire.",
        "Petits calculs vésiculaires ; pas de cholécystite.",
        "Petit angiome hépatique du segment {seg}.",
        "Nodule surrénalien {side} de {n} mm, probablement un adénome.",
        "Petite hernie hiatale.",
        "Stéatose hépatique discrète.",
        "Kystes rénaux simples bilatéraux, le plus grand de {n} mm.",
        "Petite hernie ombilicale graisseuse.",
        "Fine lame liquidienne pelvienne, probablement physiologique.",
        "Articulations sacro-iliaques normales.",
        "Zone d'épargne graisseuse au contact de la fossette vésiculaire.",
    ),
    sides=("gauche", "droit"),
    mri_names=_MRI_NAMES_FR,
    mre_titles=("ENTÉRO-IRM", "IRM DU GRÊLE (ENTÉRO-IRM)", "ENTÉRO-IRM ABDOMINO-PELVIENNE", "ENTERO-IRM"),
    locations={"L1": "iléale", "L2": "colique", "L3": "iléo-colique", "L4": "du tractus digestif supérieur"},
    history_headers=("RENSEIGNEMENTS CLINIQUES :", "INDICATION :", "Indication :"),
    history=lambda loc: (
        f"MC {loc} connue. Évaluation de l'activité.",
        f"Maladie de Crohn {loc}. Activité ? Complications ?",
        f"MC {loc} connue, réévaluation sous traitement.",
        f"Maladie de Crohn {loc}. Recherche d'inflammation ou de sténose.",
    ),
    agents=("mannitol à 2,5 %", "PEG", "solution à base de sorbitol", "solution de mannitol"),
    volumes=("1 L", "1,5 L", "1000 mL", "1200 mL"),
    antispasmodics=("butylbromure de scopolamine (Buscopan) 20 mg IV", "glucagon 1 mg IV", "Buscopan IV"),
    technique=lambda field, vol, agent, anti: (
        f"TECHNIQUE : Entéro-IRM à {field} après distension orale par {vol} de {agent} et {anti}. "
        "Séquences T2 coronales et axiales, T2 avec saturation de la graisse, diffusion (b 50/800) et T1 3D "
        "avant et après injection de gadolinium (temps entérique et portal).",
        f"TECHNIQUE : Entéro-IRM {field}. Contraste oral : {agent} ({vol}). Antispasmodique : {anti}. "
        "Séquences T2, diffusion et T1 dynamique après gadolinium.",
        f"TECHNIQUE : Protocole d'entéro-IRM standard sur une machine {field}, {agent}, {anti}, T2 "
        "multiplanaire, diffusion et T1 après injection.",
    ),
    comparison=(
        "COMPARAISON : Aucune.",
        "COMPARAISON : IRM antérieure non disponible.",
        "COMPARAISON : Aucune.",
        "COMPARAISON : Examen antérieur réalisé dans un autre centre (compte rendu seul).",
    ),
    findings_header="RÉSULTATS :",
    distension=(
        "Distension satisfaisante des anses grêles.",
        "Distension correcte.",
        "Distension sub-optimale des dernières anses grêles.",
    ),
    thickening=lambda name, wall: (
        f"épaississement pariétal {name} mesuré à {wall} mm",
        f"épaississement {name} atteignant {wall} mm",
        f"paroi {name} épaissie ({wall} mm)",
        f"épaississement de la paroi ({wall} mm) {name}",
    ),
    extent=lambda length: (
        f"sur un segment de {length} cm",
        f"sur environ {length} cm",
        f"étendu sur {length} cm",
    ),
    hedged=lambda first: (
        f"possible discret {first}, pouvant être lié à une mauvaise distension",
        f"aspect douteux : {first} ; une inflammation active minime ne peut être exclue",
        f"discret {first}, probablement minime",
    ),
    oedema=(
        "Hypersignal T2 pariétal en faveur d'un œdème.",
        "Œdème pariétal sur les séquences T2 avec saturation de la graisse.",
        "Hypersignal T2 de la paroi évoquant un œdème.",
        "Restriction de diffusion et œdème pariétal associés.",
    ),
    target_pattern="stratifié (en cible)",
    patterns=("homogène", "asymétrique, prédominant au bord mésentérique", "muqueux"),
    enhancement=lambda pattern: (
        f"Rehaussement pariétal segmentaire de type {pattern}.",
        f"Hyper-rehaussement {pattern} au temps entérique.",
        f"Le segment atteint présente un rehaussement {pattern}.",
    ),
    no_enhancement=(
        "Pas de rehaussement pariétal pathologique.",
        "Rehaussement dans les limites de la normale.",
    ),
    ulcers=(
        "Ulcérations visibles le long de la muqueuse.",
        "Ulcérations profondes.",
        "Irrégularités muqueuses évoquant des ulcérations.",
        "Probables ulcérations au sein du segment épaissi.",
    ),
    extras=(
        "une densification de la graisse péri-digestive",
        "un signe du peigne (engorgement des vasa recta)",
        "des adénopathies mésentériques réactionnelles",
        "un œdème péri-digestif",
        "une sclérolipomatose (prolifération fibro-graisseuse)",
        "des pseudo-sacculations du bord anti-mésentérique",
    ),
    extras_sentence=lambda extras: f"On note {' et '.join(extras)}.",
    no_extras=(
        "Pas d'infiltration de la graisse péri-digestive.",
        "Pas de signe du peigne.",
        "Pas de densification de la graisse.",
    ),
    normal_small_bowel=(
        "L'iléon terminal est de calibre et d'épaisseur normaux, sans rehaussement anormal.",
        "Pas d'épaississement ni de rehaussement pariétal du grêle. L'iléon terminal est normal.",
        "Grêle : pas d'inflammation active.",
        "Aspect normal de l'iléon terminal et du reste du grêle.",
    ),
    normal_colon=(
        "Le côlon est sans particularité.",
        "Pas d'épaississement pariétal colique.",
        "Côlon : pas d'anomalie franche, évaluation limitée en l'absence de distension colique.",
    ),
    stricture_default="de l'iléon terminal",
    stricture_where=lambda name: name,
    stricture=lambda where, d: (
        f"Rétrécissement luminal {where} avec dilatation d'amont à {d} cm, en rapport avec une sténose.",
        f"Sténose {where} avec dilatation d'amont mesurée à {d} cm.",
    ),
    mild_stricture=lambda where, d: (
        f"Rétrécissement {where} avec discrète dilatation d'amont ({d} cm) : sténose probable."
    ),
    no_stricture=(
        "Pas de sténose ni de dilatation d'amont.",
        "Pas de rétrécissement luminal.",
        "Absence de sténose.",
    ),
    penetrating=lambda size: (
        "Trajet borgne (sinus) depuis l'iléon terminal vers le mésentère.",
        "Fistule entéro-entérique entre l'iléon distal et une anse iléale adjacente.",
        f"Phlegmon inflammatoire au contact de l'anse pathologique ; collection de {size} cm à paroi rehaussée, "
        "en rapport avec un abcès.",
        "Fistules entéro-entériques complexes avec attraction des anses grêles (aspect en étoile).",
        "Suspicion de fistule entéro-vésicale, avec épaississement focal de la paroi vésicale.",
    ),
    no_penetrating=(
        "Pas de fistule ni d'abcès.",
        "Pas de complication pénétrante.",
        "Pas de trajet fistuleux, de fistule ni de collection.",
        "Pas de collection intra-abdominale.",
    ),
    perianal=(
        "Fistule périanale partiellement visualisée (probablement trans-sphinctérienne, Parks type 2).",
        "Trajet fistuleux périanal inter-sphinctérien.",
        "Fistule périanale avec petite collection associée.",
    ),
    nodes=(
        "Petites adénopathies mésentériques réactionnelles.",
        "Pas d'adénopathie significative.",
        "Ganglions mésentériques de 8 mm de petit axe au plus, probablement réactionnels.",
    ),
    organs=(
        "Organes pleins par ailleurs sans particularité.",
        "Foie, rate, pancréas et reins sans anomalie.",
        "Pas d'anomalie osseuse sur les structures visualisées.",
    ),
    is_stricture_line=lambda line: "sténose" in line.lower(),
    is_penetrating_line=lambda line: any(
        k in line.lower() for k in ("fistule", "abcès", "trajet", "phlegmon")
    ),
    impression_header="CONCLUSION :",
    no_activity=(
        "Pas de signe de MC active.",
        "Pas d'argument IRM pour une maladie de Crohn active.",
        "Pas d'inflammation active du grêle ni du côlon.",
        "Maladie quiescente en entéro-IRM.",
    ),
    names_join=", ".join,
    grade={"mild": "minime", "moderate": "modérée", "severe": "sévère"},
    grade_joiner=lambda g: g,
    where_mri={"small": "du grêle", "colonic": "colique", "ileocolonic": "iléo-colique"},
    equivocal=lambda names: (
        f"Anomalies douteuses {names} ; une MC active minime ne peut être exclue.",
        f"Possible inflammation discrète {names}, activité probablement minime.",
        f"Discrètes anomalies {names}, pouvant correspondre à une maladie quiescente.",
    ),
    active=lambda grade, where, names: (
        f"Aspect de MC {where} active{', ' + grade if grade else ''}, avec atteinte {names}.",
        f"Maladie de Crohn active{', ' + grade if grade else ''} {names}.",
        f"Aspect en rapport avec une maladie de Crohn {where} active{', ' + grade if grade else ''}.",
    ),
    stricture_impression=lambda active: (
        "Sténose associée à une inflammation active." if active else "Sténose sans inflammation active.",
        "Forme sténosante comme décrit.",
    ),
    penetrating_impression=("Forme pénétrante comme décrit.", "Complication pénétrante, cf. ci-dessus."),
    no_penetrating_impression=(
        "Pas de fistule ni d'abcès.",
        "Pas de complication pénétrante.",
        "Pas de complication.",
    ),
    ses_names={
        "ileum": ("Iléon terminal", "Iléon", "Dernière anse iléale", "Iléon terminal"),
        "right_colon": ("Côlon droit", "Caecum/côlon ascendant", "Côlon ascendant et caecum"),
        "transverse": ("Côlon transverse", "Transverse", "Côlon transverse"),
        "left_colon": ("Côlon gauche", "Côlon descendant et sigmoïde", "Sigmoïde/côlon descendant"),
        "rectum": ("Rectum", "Rectum", "Rectum"),
    },
    colon_titles=(
        "COMPTE RENDU D'ILÉOCOLOSCOPIE",
        "COLOSCOPIE",
        "EXAMEN RÉALISÉ : Iléocoloscopie",
        "ENDOSCOPIE - COLOSCOPIE TOTALE",
    ),
    indication_headers=("INDICATION :", "Indication :", "MOTIF DE L'EXAMEN :"),
    indications=(
        "Maladie de Crohn, évaluation de l'activité muqueuse.",
        "MC connue. Réévaluation.",
        "MC sous biothérapie ; évaluation de la cicatrisation muqueuse.",
        "MC iléo-colique, activité ?",
    ),
    preparation_headers=("PRÉPARATION :", "Préparation :"),
    preparations=(
        "Bonne (Boston 8).",
        "Correcte.",
        "Moyenne, quelques résidus liquides.",
        "Excellente.",
        "Bonne.",
    ),
    sedations=("Anesthésie générale au propofol.", "Sédation consciente par midazolam.", "Sans sédation."),
    extent_intubated=(
        "EXTENSION : iléon terminal intubé.",
        "L'iléon terminal a été intubé et exploré sur 10 cm.",
        "Exploration jusqu'à l'iléon terminal.",
        "Caecum atteint, iléon terminal intubé.",
    ),
    extent_not_intubated=(
        "EXTENSION : caecum. L'iléon terminal n'a pas pu être intubé.",
        "Caecum atteint ; échec d'intubation iléale.",
        "Extension : caecum (valvule iléo-caecale infranchissable).",
    ),
    label=lambda name: f"{name} : ",
    segment_normal=(
        "muqueuse normale.",
        "sans particularité, trame vasculaire normale.",
        "pas d'ulcération ni d'érythème.",
        "normal.",
        "pas d'inflammation.",
    ),
    no_ulcer=(
        "érythème et œdème muqueux en plages, sans ulcération",
        "perte de la trame vasculaire et érythème discret, pas d'ulcère",
        "muqueuse granitée et fragile, sans ulcération franche",
    ),
    aphthous=(
        "aphtes épars (<5 mm)",
        "quelques ulcérations aphtoïdes",
        "aphtes et petites érosions superficielles",
        "ulcérations aphtoïdes",
    ),
    large_ulcers=lambda x: (
        f"ulcères de grande taille mesurant jusqu'à {x} cm",
        "ulcérations linéaires de 1 à 2 cm",
        "ulcères creusants serpigineux (0,5-2 cm)",
        "multiples ulcères de grande taille",
    ),
    very_large_ulcers=lambda x: (
        f"ulcères très étendus et profonds, le plus grand d'environ {x} cm",
        "ulcérations profondes confluentes avec aspect pavimenteux",
        "ulcères géants (>2 cm) avec aspect pavimenteux",
    ),
    ulcerated_fraction={
        1: ("<10 %", "moins de 10 %", "une faible part"),
        2: ("10-30 %", "environ 20 %", "jusqu'à un tiers"),
        3: (">30 %", "la majeure partie", "plus d'un tiers"),
    },
    ulcerated=lambda frac: (
        f"surface ulcérée estimée à {frac()}",
        f"ulcérations couvrant {frac()} de la surface",
        f"{frac()} de la muqueuse ulcérée",
    ),
    affected={
        1: ("atteinte en plages (<50 %)", "atteinte segmentaire, lésions discontinues", "atteinte focale"),
        2: ("atteinte de 50 à 75 % du segment", "atteinte étendue", "la majeure partie du segment atteinte"),
        3: (
            "atteinte circonférentielle de plus de 75 % du segment",
            "atteinte diffuse",
            "atteinte continue sur tout le segment",
        ),
    },
    single_stenosis=(
        "une sténose unique, franchie par l'endoscope",
        "rétrécissement unique franchissable",
        "sténose courte, franchissable",
    ),
    multiple_stenoses=(
        "plusieurs sténoses, franchies avec une légère résistance",
        "plusieurs zones rétrécies, franchies",
    ),
    tight_stenosis=(
        "sténose serrée non franchissable",
        "sténose ulcérée non franchissable par le coloscope adulte",
    ),
    no_stenosis=("pas de sténose", "sans sténose"),
    colon_extras=("pseudopolypes", "aspect pavimenteux", "saignement au contact"),
    joiner=" ; ",
    perianal_colon=(
        "Marge anale : orifice fistuleux externe.",
        "Examen périnéal : marisques et orifice de fistule.",
    ),
    colon_findings_header="RÉSULTATS :",
    biopsy_headers=("Biopsies :", "HISTOLOGIE :", "Prélèvements :"),
    biopsies=(
        "biopsies étagées de chaque segment.",
        "biopsies segmentaires envoyées.",
        "biopsies aléatoires de l'iléon et du côlon.",
        "biopsies pour histologie et dépistage de la dysplasie.",
    ),
    colon_impression_header="CONCLUSION :",
    remission=(
        "Rémission endoscopique.",
        "Pas de signe endoscopique de MC active.",
        "Cicatrisation muqueuse.",
        "Iléocoloscopie normale.",
    ),
    where_colon={"ileitis": "iléite", "ileocolitis": "iléo-colite", "colitis": "colite"},
    mild_colon=lambda where: (
        f"{_cap(where)} de Crohn minime non ulcérée.",
        f"Inflammation minime, sans ulcération ({where}).",
        f"{_cap(where)} minime ; probablement proche de la rémission.",
    ),
    active_colon=lambda grade, where: (
        f"{_cap(where)} de Crohn active{', ' + grade if grade else ''}.",
        f"{_cap(where)} de Crohn {grade + ' ' if grade else ''}active.",
        f"{_cap(where)} de Crohn ulcérée.",
    ),
    stenosis_impression=("Sténose comme décrit.", "Forme sténosante."),
)
