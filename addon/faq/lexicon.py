"""Word lists of the FAQ analysis: stop words, SMS forms and the ERP domain's abbreviations.

Words are written folded (lower case, no accents), as analysis.fold returns them.
"""

# Function words, courtesy formulas and the verbs of "je n'arrive pas à", "ça ne marche pas",
# "pouvez-vous", which every support statement contains and which never tell articles apart.
# Negation (ne, pas, plus) goes too, because retrieval is about the topic, not its polarity.
# ERP nouns stay even when frequent (facture, stock, commande, erreur). So does "avoir", which is
# also a credit note, and only its conjugated forms are stop words.
_FRENCH = """
a ai aie aient aies ait as au aucun aucune aujourd auquel aussi autre autres aux avaient avais
avait avant avec avez aviez avions avons ayant ayez ayons alors apres assez
beaucoup bien bonjour bonsoir
c ca car ce ceci cela celle celles celui ces cet cette ceux chaque chez chose comme comment
cordialement
d dans de deja depuis des dit dire desquelles desquels devez devons devrais devrait doit doivent dois
donc dont du duquel
elle elles en encore est et etaient etais etait etant etc ete etes etions etre eu eue eues eux
faire fais fait faites faut fois font
hui
il ils
j jamais je jusqu
l la laquelle le lequel les lesquelles lesquels leur leurs lorsqu lorsque lui
m ma madame mais me meme memes merci mes moi moins mon monsieur
n ne ni non nos notre nous
on ont or ou oui
par parce pas peu peut peuvent peux plus plusieurs pour pourquoi pourrais pourrait pourriez
pouvez pouvons pu puis puisqu puisque
qu quand que quel quelle quelles quelqu quelque quelques quels qui quoi
rien
s sa salut sans sauf se selon ses seulement si sinon soi soit sommes son sont suis sur
t ta te tes toi ton toujours tous tout toute toutes tres trop tu
un une
va vais vers veuillez veulent veut veux voici voila voudrais voudrait voudrions voulez voulons
vos votre vous vont
y
arrive arrivons arrivent marche marchent fonctionne fonctionnent
probleme problemes souci soucis aide aider aidez question
"""

# English function words, so that an English statement is read by its nouns.
_ENGLISH = """
an and are be can cannot could do does for from have has how i in is it me my not our please
the this that to us was we what when why with would you your
"""

STOP_WORDS = frozenset(_FRENCH.split()) | frozenset(_ENGLISH.split())

# Built-in replacements, in the format of the admin's synonym list (analysis.parse_synonyms). The
# admin's list extends them, and an entry of the admin's for the same form replaces the one here.
BUILTIN_SYNONYMS_TEXT = """
# SMS forms and chat shorthand
pb, pbm, pblm, prob, pbs = probleme
svp, stp, bjr, bsr, slt, cdt, cdlt, mrc, mci, thx, pls, plz =
qd, kan = quand
ds = dans
pr = pour
tjs, tjrs = toujours
bcp = beaucoup
dc = donc
tt, ts = tout
pk, pq, pkoi = pourquoi
koi = quoi
ke = que
jsp =
auj, ajd = aujourd'hui
mdp = mot de passe
msg = message
dispo = disponible
info, infos = information
nvx, nvl, nouv = nouveau
rdv = rendez-vous
qqch =
qqn =
jarrive, narrive, jy =

# ERP abbreviations: documents
BL = bon de livraison
BC = bon de commande
BR = bon de réception
OF = ordre de fabrication
AR = accusé de réception
cde, cdes, cmd, cmde = commande
fact, fac = facture
fourn, frs = fournisseur
qte = quantité
ref = référence

# ERP abbreviations: production and stock
CBN = calcul des besoins nets
MRP = calcul des besoins
CUMP = coût unitaire moyen pondéré
PMP = prix moyen pondéré
DLC = date limite de consommation
DDM = date de durabilité minimale
DLUO = date limite d'utilisation optimale
appro = approvisionnement
prod = production

# ERP abbreviations: accounting, tax, payroll. An abbreviation that users nearly always type as
# such (TVA, DSN, EDI, HT) stays a term of its own, because replacing it by its long form would match
# the generic words of that form (valeur, ajoutée) in unrelated articles.
compta = comptabilité
exo = exercice
immo, immos = immobilisation
FEC = fichier des écritures comptables
CP = congés payés
RIB = IBAN
CA = chiffre d'affaires
"""
