/** Chaque phrase du runbook en français : un `Words`, donc TypeScript exige chaque clé de l'anglais, et rien de plus. */
import { pair, type Words } from './words-en.js';

const deux = (n: number): string => String(n).padStart(2, '0');

export const fr: Words = {
  locale: 'fr-FR',
  plural: (n: number): boolean => n >= 2,
  units: { day: pair('jour', 'jours'), hour: pair('heure', 'heures'), minute: pair('minute', 'minutes'), second: pair('seconde', 'secondes') },
  percent: (n: number) => `${n} %`,
  colon: ' : ',
  semicolon: ' ; ',
  placeholders: {
    time: '<DATE_HEURE>',
    snapshot: '<INSTANTANÉ>',
    point: '<POINT>',
    dir: '<NOUVEAU_DOSSIER>',
    release: '<VERSION>',
    label: '<LIBELLÉ>',
    restorePoint: '<NOM_DU_POINT_DE_RESTAURATION>',
  },
  backupTypes: { full: 'complète', diff: 'différentielle', incr: 'incrémentale' },

  header: {
    comment: (when: string, file: string) => `Généré par safepoint runbook le ${when} à partir de ${file}. Ne pas modifier à la main : relancer safepoint runbook.`,
    title: (project: string) => `Procédures de sauvegarde et de restauration : ${project}`,
    generated: (when: string, file: string, regenerate: string) =>
      `Généré par \`safepoint runbook\` le ${when} à partir de ${file}. Ne modifiez pas ce fichier à la main : modifiez la configuration, puis relancez ${regenerate}.`,
    intro:
      'Ce document décrit comment ce projet est sauvegardé et comment le restaurer : ce qui est protégé, où, à quelle fréquence, et les commandes exactes à taper quand un problème survient. ' +
      'Les heures sont en UTC. Les valeurs entre chevrons (`<DATE_HEURE>`, `<INSTANTANÉ>`…) sont à remplacer ; `<DATE_HEURE>` est une date et heure ISO 8601, par exemple `2026-11-29T07:12:00Z`.',
  },

  common: {
    notSet: 'non défini',
    noSources: 'La configuration ne déclare aucune source : rien n\'est sauvegardé.',
    allSources: 'toutes les sources',
  },

  kinds: {
    types: { files: 'fichiers', sqlite: 'SQLite', postgres: 'PostgreSQL', mariadb: 'MariaDB' },
    modes: { physical: 'physique', logical: 'logique' },
    walArchiving: 'archivage des WAL',
    continuous: 'réplication continue',
  },

  before: {
    title: '1. Avant de commencer',
    config: (file: string) => `Toutes les commandes ci-dessous lisent la configuration ${file}. Lancez-les depuis son dossier, ou indiquez-la d'abord :`,
    passwords:
      'Toute restauration demande le mot de passe du dépôt. Gardez-en une copie hors ligne, loin de cette machine : un attaquant ou un disque perdu ne doit pas l\'emporter avec les sauvegardes.',
    passwordFile: (path: string) => `lu dans le fichier ${path}`,
    passwordCommand: 'fourni par la commande de `password_command`',
    passwordEnv: 'pris dans `SAFEPOINT_PASSWORD` ou `SAFEPOINT_PASSWORD_FILE`, ou saisi à l\'invite',
    status: 'L\'état de chaque source par rapport à ses objectifs (code de sortie 4 quand l\'un d\'eux n\'est pas respecté) :',
    incidents: 'En cas d\'incident, commencez ici :',
    incidentHead: ['Incident', 'Première commande (ne modifie rien)', 'Procédure'],
    see: (title: string) => `section « ${title} »`,
  },

  objectives: {
    title: '2. Objectifs',
    intro:
      '**Objectif de point de reprise (RPO)** : la perte de données maximale admissible, mesurée en temps. ' +
      '**Durée maximale d\'interruption (RTO)** : le temps maximal que peut prendre une restauration, jusqu\'au retour du service.',
    head: ['Source', 'Type', 'RPO', 'RTO', 'Services arrêtés pendant une restauration'],
    missing: (sources: string) =>
      `Aucun RPO ou RTO n'est défini pour ${sources} : rien n'indique si leurs sauvegardes sont assez récentes ni leurs restaurations assez rapides. Définissez \`rpo\` et \`rto\` dans la configuration.`,
  },

  backedUp: {
    title: '3. Ce qui est sauvegardé, où et à quelle fréquence',
    head: ['Source', 'Contenu', 'Dépôt', 'Fréquence', 'Rétention'],
    fromAudit: (path: string) => `les chemins listés dans ${path}`,
    excluded: (list: string) => `exclus : ${list}`,
    sqliteFile: (path: string) => `fichier de base de données ${path}`,
    localServer: 'socket local',
    database: (db: string, at: string, user: string | null) => `base ${db} sur ${at}${user === null ? '' : ` (utilisateur ${user})`}`,
    dataDirectory: (dir: string) => `répertoire de données ${dir}`,
    noSchedule: 'aucune planification dans la configuration (lancement à la main ou par cron)',
    walArchiving: 'et en continu : chaque fichier WAL dès que PostgreSQL le ferme (`archive_command = safepoint pg archive-push %p`)',
    binlogs: 'et les binlogs fermés depuis, à chaque sauvegarde et par `safepoint mariadb binlog-sync`',
    replication: 'et en continu : les transactions validées, chaque seconde (`safepoint replicate`)',
    keepAll: 'tout est conservé (aucune rétention définie)',
    retentionNote:
      'La rétention (`safepoint forget --all`) ne supprime jamais un instantané marqué `quarantine` ou `legal-hold`, ni le dernier instantané d\'une source qui a réussi un exercice de restauration.',
    verificationTitle: 'La preuve que les sauvegardes se restaurent :',
    drills: (when: string, sources: string, sampleOlder: boolean) =>
      `${when} : exercice de restauration dans un bac à sable pour ${sources}${sampleOlder ? ', plus une sauvegarde plus ancienne tirée au hasard pour chacune' : ''} (\`safepoint drill\`), chaque restauration étant vérifiée et chronométrée par rapport au RTO ;`,
    noDrills: (cmd: string) => `aucune planification d'exercices dans la configuration : lancez ${cmd} au moins chaque semaine, sinon le RTO reste non démontré ;`,
    checks: (when: string, share: string | null) => `${when} : vérification des dépôts${share === null ? '' : `, avec relecture de ${share} des données`} (\`safepoint check\`).`,
    noChecks: (cmd: string) => `aucune planification de vérification dans la configuration : lancez ${cmd} au moins chaque semaine.`,
  },

  repos: {
    title: '4. Dépôts et cibles de stockage',
    none: 'La configuration ne définit aucun dépôt.',
    targets: 'Cibles',
    kinds: { s3: 'stockage objet S3', sftp: 'serveur SFTP', local: 'disque local ou monté' },
    writes: (n: number, min: number) =>
      n === 1
        ? 'Chaque sauvegarde est écrite sur cette cible.'
        : min >= n
          ? `Chaque sauvegarde est écrite sur ${n === 2 ? 'les deux' : `les ${n}`} cibles en une seule passe ; un instantané n'est enregistré qu'une fois présent sur toutes.`
          : `Chaque sauvegarde est écrite sur ${n === 2 ? 'les deux' : `les ${n}`} cibles en une seule passe ; un instantané n'est enregistré qu'une fois présent sur ${min} d'entre elles.`,
    usedBy: 'Utilisé par',
    protection: 'Protection',
    objectLock: (mode: string, days: number) =>
      mode === 'compliance'
        ? `S3 Object Lock, mode compliance, ${days} jours : personne, pas même avec les identifiants de cette machine, ne peut supprimer ni écraser une sauvegarde pendant cette durée.`
        : `S3 Object Lock, mode governance, ${days} jours : seul un compte autorisé à contourner le mode governance peut supprimer ou écraser une sauvegarde pendant cette durée.`,
    appendOnly: 'Client en ajout seul : cette machine peut ajouter des sauvegardes, jamais en supprimer ni en remplacer.',
    copies: (n: number) => `${n} copies sur des cibles distinctes : la restauration et la vérification lisent la suivante quand l'une est en panne ou contient des données endommagées.`,
    noImmutability: 'Non immuable : un attaquant qui contrôle cette machine peut supprimer ces sauvegardes. Activez `append_only: true` ou `object_lock`.',
    singleTarget: 'Une seule cible : la perdre, c\'est perdre toutes les sauvegardes de ce dépôt. Ajoutez une deuxième cible.',
    allLocal:
      'Toutes les cibles sont des chemins sur cette machine : un incendie, un vol ou un rançongiciel sur la machine peut toutes les atteindre. Ajoutez une cible hors site (S3 ou SFTP).',
    sync: (cmd: string) => `Une cible indisponible pendant une sauvegarde rattrape son retard avec ${cmd}.`,
  },

  code: {
    title: '5. Restaurer le code et la configuration',
    pointsTitle: 'À partir d\'un point de restauration',
    pointsIntro: (sources: string | null, git: string | null) =>
      `Un point de restauration relie un commit git aux sauvegardes faites avec lui. \`restore code\` clone ce commit${git === null ? ' (depuis le dépôt git du projet lui-même)' : ` depuis ${git}`}, ` +
      `remet en place la configuration sauvegardée avec lui${sources === null ? '' : ` (source ${sources})`}, vérifie chaque fichier, lance les scripts de déploiement et les contrôles de santé, le tout dans un nouveau dossier : la version en production n'est pas touchée.`,
    listPoints: 'Choisissez le point : tous les points de restauration, avec pour chacun la présence de chaque partie dans son dépôt, chaque octet relu :',
    planCode: 'Lisez le plan (rien n\'est modifié) :',
    runCode: 'Restaurez dans un nouveau dossier :',
    fromBundle: 'Si le serveur git est indisponible ou a pu être altéré, prenez le code dans le bundle git conservé avec le point :',
    releasesTitle: 'Revenir à une version déployée précédente',
    releasesIntro: (dir: string, current: string, keep: number) =>
      `Les versions déployées se trouvent dans ${dir} ; ${current} est un lien symbolique vers celle en production, basculé de façon atomique. Les ${keep} dernières versions sont conservées.`,
    listReleases: 'Affichez les versions déployées, celle en production marquée d\'un `*`, avec leur état et leur point de restauration :',
    planRollback: 'Lisez le plan du retour arrière (rien n\'est modifié) :',
    runRollback: 'Revenez à la version saine précédente, avec la configuration avec laquelle elle avait été déployée (une sauvegarde de sécurité est faite d\'abord) :',
    toRelease: 'ou vers une version donnée',
    noDeploy:
      'La configuration n\'a pas de section `deploy` : `safepoint rollback deploy` n\'est pas disponible. Restaurez le code avec `restore code` (ci-dessus) ou depuis une source de fichiers (ci-dessous).',
    filesTitle: 'Sources de fichiers',
    filesIntro:
      'Chaque chemin sauvegardé revient sous la forme `<dossier>/<son nom>`. Restaurez dans un nouveau dossier, vérifiez-le, puis mettez-le en place ; pour remettre une source entière exactement dans son état d\'alors, en supprimant ce qui a été ajouté depuis, utilisez le retour arrière après une attaque (section 7).',
    auditPaths: 'chemins issus de l\'audit',
    filesDrill: 'Éprouvez la dernière sauvegarde dans un bac à sable (la production n\'est pas touchée) :',
    filesList: 'Affichez les sauvegardes :',
    filesTest: 'Restaurez la dernière sauvegarde dans un nouveau dossier, chaque fichier vérifié :',
    filesOlder: 'Une sauvegarde plus ancienne : ce qui a changé sur le disque depuis, puis sa restauration dans un nouveau dossier :',
    filesPlace:
      'Comparez le dossier restauré avec celui en production, arrêtez ce qui y écrit, mettez le dossier en production de côté (`mv chemin chemin.before-restore`), placez le dossier restauré à sa place, redémarrez.',
  },

  databases: {
    title: '6. Restaurer les bases de données',
    none: 'La configuration ne déclare aucune source de base de données.',
    intro:
      'Toute restauration de base de données suit la même procédure, dont chaque étape est signalée au fur et à mesure : arrêt des services, sauvegarde de sécurité de l\'état actuel, restauration avec les outils de la base elle-même, vérification, démarrage des services et contrôle de leur santé. ' +
      '`--dry-run` affiche le plan sans rien modifier. Remplacer la base en production demande `--force`. Une restauration `--into` vers une copie laisse la base en production et ses services intacts.',
    what: 'Contenu',
    repository: 'Dépôt',
    precision: 'Retour possible',
    precisions: {
      wal: 'à n\'importe quelle seconde couverte par l\'archive des WAL (`--target-time`), ou à un point de restauration (`--target-name`)',
      binlog: 'à n\'importe quelle seconde couverte par les binlogs archivés (`--target-time` ; le serveur doit écrire des binlogs : `log_bin`)',
      replication: 'à n\'importe quelle seconde couverte par la réplication (`--target-time`)',
      backup: 'à l\'une de ses sauvegardes seulement (les modifications postérieures sont perdues)',
    },
    servicesStopped: 'Arrêtés avant une restauration en place, redémarrés et contrôlés ensuite :',
    noServices: 'Aucun service n\'est associé à cette source : arrêtez vous-même les applications qui y écrivent avant une restauration en place.',
    stop: 'arrêt',
    start: 'démarrage',
    health: 'santé',
    verifiedBy: 'Une restauration est vérifiée par :',
    engineCheck: {
      sqlite: '`PRAGMA integrity_check`',
      postgres: 'la réponse du serveur, et `amcheck` sur chaque index btree quand l\'extension est disponible',
      mariadb: 'la réponse du serveur, et `CHECK TABLE` sur chaque table',
    },
    rowCounts: 'le nombre de lignes de chaque table, comparé à celui relevé lors de la sauvegarde',
    sqlCheck: 'contrôle SQL (doit renvoyer vrai) :',
    commandCheck: 'contrôle par commande (doit se terminer avec le code 0) :',
    stepDrill: 'Éprouvez la dernière sauvegarde dans un bac à sable (la production n\'est pas touchée ; la durée est mesurée par rapport au RTO) :',
    stepList: 'Affichez les sauvegardes :',
    stepTest: (target: string) => `Restaurez d'abord dans une copie, ${target}, et examinez-la (la base en production et ses services ne sont pas touchés) :`,
    orAtTime: 'ou la copie telle qu\'elle était à un instant donné',
    stepInPlace: (services: string | null) =>
      `Restaurez le dernier état en place : lisez le plan, puis exécutez-le${services === null ? '' : ` (arrêt puis redémarrage de ${services})`} :`,
    toRestorePoint: (cmd: string) => `ou à la position de la base enregistrée par un point de restauration (sa ligne \`Database:\` dans ${cmd})`,
    stepAt: {
      wal: 'À un instant donné, juste avant les dégâts (l\'archive des WAL est rejouée jusqu\'à cette seconde) :',
      binlog: 'À un instant donné, juste avant les dégâts (les binlogs archivés sont rejoués jusqu\'à cette seconde) :',
      replication: 'À un instant donné, juste avant les dégâts (les transactions répliquées sont rejouées jusqu\'à cette seconde) :',
      backup: 'À un instant donné : la dernière sauvegarde faite à cet instant ou avant :',
    },
    stepSnapshot: 'À une sauvegarde donnée (son identifiant dans `safepoint snapshots`) :',
    stepUndo: {
      safety: 'Si la restauration était une erreur : l\'état qu\'elle a remplacé est un instantané marqué `safety` ; restaurez-le de la même façon (`--snapshot <INSTANTANÉ>`, ci-dessus) :',
      movedAside:
        'Si la restauration était une erreur : le répertoire de données qu\'elle a remplacé a été mis de côté, intact, sous le nom `<répertoire de données>.before-<heure>` ; arrêtez le serveur et remettez ce répertoire à sa place.',
      before:
        'Si la restauration était une erreur : la base qu\'elle a remplacée est conservée sous le nom `<base>__before_<heure>` (ainsi qu\'un instantané marqué `safety`) ; renommez-la, ou restaurez l\'instantané de sécurité :',
    },
    pgStart: (flags: string) => `Pour examiner avec un vrai serveur une copie restaurée avec \`--into\`, ajoutez ${flags} : la copie reste démarrée sur ce port.`,
    binlogNote: (cmd: string) => `Entre deux sauvegardes, les binlogs n'arrivent dans le dépôt qu'avec ${cmd} : lancez-la aussi souvent que le RPO l'exige.`,
    noWal: (key: string) => `Sans ${key}, cette source ne peut revenir qu'à ses sauvegardes ; avec, à n'importe quelle seconde.`,
  },

  rollback: {
    title: '7. Retour arrière : les trois cas',
    deployTitle: 'Déploiement en échec',
    dataTitle: 'Corruption des données',
    attackTitle: 'Attaque informatique',
    autoRollback: (cmd: string, window: string, limit: number, interval: string) =>
      `Déployée avec ${cmd}, une version revient d'elle-même en arrière quand ${limit} contrôles de santé échouent dans les ${window} qui suivent la bascule (un contrôle toutes les ${interval}). Sinon :`,
    deploySee: 'Regardez quelle version est en production et lesquelles ont passé leurs contrôles de santé :',
    deployPlan: 'Lisez le plan (rien n\'est modifié) :',
    deployRun: (health: string | null) =>
      `Revenez en arrière : la configuration de la version saine précédente est restaurée (sauvegarde de sécurité d'abord), \`current\` est rebasculé, les commandes post-bascule sont lancées${health === null ? '' : `, puis le contrôle de santé (${health})`} :`,
    deployMigrations:
      'Si la version en échec a migré la base de données, le retour arrière le signale et affiche la commande qui ramène chaque base à la position enregistrée avant ses scripts (`<NOM_DU_POINT_DE_RESTAURATION>` : celui du point de restauration de la version ; `<DATE_HEURE>` : l\'heure de son déploiement). Décidez, puis lancez-la :',
    deployNoDatabases: 'Il n\'y a aucune source de base de données : seuls le code et la configuration reviennent en arrière.',
    checkStatus: 'Vérifiez que chaque source respecte de nouveau ses objectifs :',
    deployNotConfigured:
      'La configuration n\'a pas de section `deploy` : les versions ne sont pas gérées par safepoint. Restaurez le code d\'un point sain connu dans un nouveau dossier, puis basculez dessus comme vous déployez d\'habitude :',
    deploySwitchByHand: 'Faites pointer l\'application sur le dossier restauré, redémarrez-la et contrôlez sa santé.',
    dataStop: 'Arrêtez ce qui cause les dégâts (une tâche, une migration, une version défectueuse) : si c\'est la version déployée, annulez d\'abord le déploiement.',
    dataWhen: 'Trouvez quand les dégâts ont commencé : les sauvegardes avec leur heure, l\'archive continue, et l\'analyse (lignes perdues entre deux sauvegardes) :',
    dataTest: 'Essayez d\'abord la restauration sur une copie, à l\'instant choisi quand la source sait y revenir (la base en production n\'est pas touchée) :',
    dataPlan: 'Lisez le plan du retour arrière (rien n\'est modifié) :',
    dataRun:
      'Revenez en arrière : les services sont arrêtés, l\'état actuel est conservé en sauvegarde de sécurité, la base est restaurée à cet instant et vérifiée, les services sont redémarrés et contrôlés. Un terminal demande confirmation ; les scripts ajoutent `--force` :',
    dataCheck: 'Vérifiez l\'application, puis les objectifs :',
    dataHead: ['Source', 'Retour possible', 'Commande non interactive'],
    dataNoDatabases: 'Il n\'y a aucune source de base de données. Les fichiers corrompus se restaurent avec la procédure des fichiers de la section 5.',
    dataFiles: (sources: string) =>
      `Les fichiers corrompus (${sources}) se restaurent avec la procédure des fichiers de la section 5, ou tous ensemble et à l'identique avec le retour arrière après une attaque, ci-dessous.`,
    attackContain:
      'Contenez l\'attaque : coupez du réseau les machines compromises, conservez-les pour l\'enquête, et suspendez les tâches planifiées `forget` et `prune` pour que la rétention ne supprime pas de sauvegardes saines pendant l\'incident.',
    attackScan:
      'Repérez les instantanés suspects (modifications massives, débuts de fichiers chiffrés, fichiers renommés, demandes de rançon, scripts déposés, lignes perdues ; code de sortie 5 quand l\'un d\'eux est suspect) :',
    attackWhen:
      'Déterminez le début de l\'attaque (`<DATE_HEURE>`) : le premier instantané suspect, les traces d\'intrusion, les opérations enregistrées dans le journal ; dans le doute, retenez l\'heure la plus ancienne.',
    attackPlan: (accept: string) =>
      `Trouvez le dernier point sain de chaque source et lisez le plan (rien n'est modifié). Les instantanés antérieurs à \`<DATE_HEURE>\` que l'analyse signale sont eux aussi écartés ; ${accept} accepte un instantané que vous savez sain :`,
    attackRun: (withDeploy: boolean) =>
      `Revenez en arrière : l'état actuel est mis en quarantaine (instantanés marqués \`quarantine\`, conservés pour l'enquête), les services sont arrêtés, les fichiers remis à l'identique (ce que l'attaquant a ajouté est supprimé), les bases ramenées au même instant, le tout vérifié, puis les services redémarrés${withDeploy ? ", et le code du point sain est déployé depuis son bundle git, et non depuis le serveur git" : ''} :`,
    attackVerify: 'Vérifiez : les objectifs, la chaîne de hachage du journal (une entrée supprimée ou modifiée est détectée), et chaque octet de chaque dépôt :',
    attackRevert: 'Si des objets de sauvegarde ont été supprimés ou écrasés sur les cibles S3 sous Object Lock, rétablissez-les tels qu\'ils étaient avant l\'attaque :',
    attackRotate:
      'Changez tous les secrets que l\'attaquant a pu voir : mots de passe des dépôts (`safepoint key add`, puis `safepoint key remove` de l\'ancienne clé), mots de passe des bases, clés S3 et SSH. Les clés en service :',
  },

  tags: {
    title: '8. Convention de nommage des tags de point de restauration',
    intro: 'Un point de restauration est un tag git annoté posé sur un commit ; son message enregistre les sauvegardes et les positions des bases prises avec lui. Son nom :',
    prefix: (prefix: string) => `${prefix} est \`deploy.restore_points.tag_prefix\` ;`,
    time: 'l\'heure de création du point, en UTC, à la seconde près (`YYYYMMDDTHHMMSSZ`), pour que les noms se trient par date ;',
    label:
      'un libellé facultatif qui dit pourquoi (`--label`, au plus 40 lettres, chiffres, `.`, `_`, `-`) : les hooks reprennent le tag qui les a déclenchés (`v1.4.0`), `merge-into-main` ou `breaking-change` ;',
    message:
      'le message du tag se termine par des lignes `Clé: valeur` : `Commit`, `Snapshot: <source> <id>` par sauvegarde, `Database: <source> ...` par position de base, `Bundle` (le bundle git), `Missing` pour une partie qui n\'a pas pu être prise.',
    majorIntro: (isDefault: boolean) =>
      `Un **commit majeur** reçoit un point de restauration du code seul, créé par les hooks git${isDefault ? ' (règles par défaut : `deploy.restore_points.major` n\'est pas défini)' : ' (`deploy.restore_points.major`)'} :`,
    ruleBreaking: 'un commit dont le message annonce un changement incompatible (sujet `type!:` ou pied de message `BREAKING CHANGE:`)',
    ruleTag: (glob: string) => `la création d'un tag correspondant à ${glob}`,
    ruleMerge: (branch: string) => `une fusion qui arrive sur la branche ${branch}`,
    install: 'Installez les hooks, une fois par clone :',
    manual: 'Créez un point à la main (configuration et données sauvegardées, positions des bases enregistrées, commit tagué) :',
    push: 'Poussez les tags, pour qu\'ils survivent à la perte de cette machine :',
  },

  measured: {
    title: '9. Derniers RPO et RTO mesurés et résultats des exercices de restauration',
    intro: (time: string, cmd: string) =>
      `Relevés le ${time} dans les instantanés et le journal des dépôts ; ${cmd} donne les mêmes chiffres en direct. RPO mesuré : l'âge de la protection la plus récente (sauvegarde ou archive continue), c'est-à-dire ce qu'une panne maintenant ferait perdre. RTO mesuré : la durée de restauration du dernier exercice.`,
    unavailable: (repo: string, sources: string) => `Le dépôt ${repo} n'a pas pu être ouvert : les chiffres de ${sources} sont inconnus.`,
    unknown: 'inconnu',
    never: 'jamais',
    passed: 'réussi',
    failed: 'ÉCHEC',
    exposureFrom: { 'wal archive': 'archive des WAL', replication: 'réplication', 'binlog archive': 'archive des binlogs' },
    verdicts: { ok: 'conforme', 'at risk': 'à risque', violated: 'non respecté' },
    head: ['Source', 'État', 'Dernière sauvegarde', 'RPO mesuré / objectif', 'Dernier exercice', 'RTO mesuré / objectif', 'Dernière vérification'],
    findingsTitle: 'Points d\'attention :',
    neverBackedUp: (cmd: string) => `jamais sauvegardée : lancez ${cmd}`,
    overRpo: (exposure: string, rpo: string) => `dernière protection il y a ${exposure}, au-delà du RPO de ${rpo}`,
    nearRpo: (pct: string) => `la dernière protection a atteint ${pct} du RPO : la prochaine sauvegarde est due`,
    drillFailed: (time: string, error: string | null) => `le dernier exercice (${time}) a échoué${error === null ? '' : ` : ${error}`}`,
    overRto: (measured: string, rto: string) => `le dernier exercice a restauré en ${measured}, au-delà du RTO de ${rto}`,
    neverDrilled: (cmd: string) => `jamais éprouvée par un exercice, le RTO n'est pas démontré : lancez ${cmd}`,
    drillOld: (age: string) => `le dernier exercice remonte à ${age}`,
    checkFailed: (time: string) => `la dernière vérification du dépôt (${time}) a trouvé des dommages : voir \`safepoint journal\``,
    neverChecked: (cmd: string) => `le dépôt n'a jamais été vérifié : lancez ${cmd}`,
    checkOld: (age: string) => `la dernière vérification du dépôt remonte à ${age}`,
  },

  cron: {
    macros: {
      '@hourly': 'toutes les heures',
      '@daily': 'tous les jours à minuit',
      '@weekly': 'tous les dimanches à minuit',
      '@monthly': 'le 1er de chaque mois à minuit',
      '@yearly': 'chaque 1er janvier à minuit',
    },
    days: ['dimanche', 'lundi', 'mardi', 'mercredi', 'jeudi', 'vendredi', 'samedi'],
    time: (h: number, m: number) => `${h} h ${deux(m)}`,
    daily: (at: string) => `tous les jours à ${at}`,
    weekly: (day: string, at: string) => `tous les ${day}s à ${at}`,
    weekdays: (from: string, to: string, at: string) => `du ${from} au ${to} à ${at}`,
    monthly: (dom: number, at: string) => `le ${dom === 1 ? '1er' : dom} de chaque mois à ${at}`,
    everyHours: (n: number, minute: number) => `toutes les ${n} heures, à la minute ${minute}`,
    hourly: (minute: number) => `toutes les heures, à la minute ${minute}`,
    everyMinutes: (n: number) => `toutes les ${n} minutes`,
    onMajorCommit: 'à chaque commit majeur (hooks git, section 8)',
  },
};
